"""The Debian mirror comes from the apt configuration, in either of its formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm.errors import SandboxError
from dgm.sandbox.mirror import debian_mirror


def _apt(tmp_path: Path, sources: str | None = None, sources_list: str | None = None) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    if sources is not None:
        (tmp_path / "sources.list.d" / "debian.sources").write_text(sources)
    if sources_list is not None:
        (tmp_path / "sources.list").write_text(sources_list)
    return tmp_path


def test_deb822_main_archive_not_security(tmp_path: Path) -> None:
    apt = _apt(tmp_path, sources=(
        "Types: deb\n# a comment\nURIs: http://security.example.invalid/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example.invalid/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    ))
    assert debian_mirror(apt) == "http://mirror.example.invalid/debian"


def test_disabled_stanza_is_skipped(tmp_path: Path) -> None:
    apt = _apt(tmp_path, sources=(
        "Enabled: no\nTypes: deb\nURIs: http://off.example.invalid/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://on.example.invalid/debian\nSuites: bookworm\n"
    ))
    assert debian_mirror(apt) == "http://on.example.invalid/debian"


def test_one_line_sources_list_with_options(tmp_path: Path) -> None:
    apt = _apt(tmp_path, sources_list=(
        "# deb http://old.example.invalid/debian buster main\n"
        "deb [signed-by=/usr/share/keyrings/x.gpg] http://list.example.invalid/debian bullseye main\n"
        "deb http://list.example.invalid/debian-security bullseye-security main\n"
    ))
    assert debian_mirror(apt) == "http://list.example.invalid/debian"


def test_no_mirror_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="no Debian mirror"):
        debian_mirror(_apt(tmp_path))


def test_this_machine_has_one() -> None:
    assert debian_mirror().startswith(("http://", "https://", "file:/"))
