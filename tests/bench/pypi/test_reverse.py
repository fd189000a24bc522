"""Reverse-applying real Lite rows to a real release archive from the package index."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from dgm.bench.instances import load_instances
from dgm.bench.pypi.releases import download_sdist, sdist_file
from dgm.bench.pypi.reverse import check_both, reverse_patches, reverses_cleanly, unpack
from dgm.errors import BenchError

LITE = Path(__file__).resolve().parents[3] / "datasets" / "swebench_lite.jsonl"


def _row(instance_id: str):
    return load_instances(LITE, ids=[instance_id])[0]


def _digest(tree: Path) -> dict[str, str]:
    return {p.relative_to(tree).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(tree.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def flask_230() -> Path:
    return download_sdist("Flask", "2.3.0")  # cached under dgm_home after the first run


def test_flask_release_reverses_to_the_before_state(flask_230: Path, tmp_path: Path) -> None:
    inst = _row("pallets__flask-4992")
    tree = unpack(flask_230, tmp_path / "src")
    release_state = _digest(tree)
    assert (tree / "tests" / "static" / "config.toml").exists()
    assert check_both(tree, inst.patch, inst.test_patch) is None

    reverse_patches(tree, inst.patch, inst.test_patch)

    # The test patch added the TOML fixture and the gold patch added `text=` to from_file.
    assert not (tree / "tests" / "static" / "config.toml").exists()
    assert "text: bool" not in (tree / "src" / "flask" / "config.py").read_text()
    assert "test_config_from_file_toml" not in (tree / "tests" / "test_config.py").read_text()
    # Applying forward again gives back the release byte for byte.
    assert reverses_cleanly(tree, inst.patch)[0] is False
    from dgm.bench.pypi.reverse import _git_apply

    assert _git_apply(tree, inst.patch).returncode == 0
    assert _git_apply(tree, inst.test_patch).returncode == 0
    assert _digest(tree) == release_state


def test_reversing_twice_names_the_patch_that_failed(flask_230: Path, tmp_path: Path) -> None:
    inst = _row("pallets__flask-4992")
    tree = unpack(flask_230, tmp_path / "src")
    reverse_patches(tree, inst.patch, inst.test_patch)
    with pytest.raises(BenchError, match="test_patch does not reverse-apply"):
        reverse_patches(tree, inst.patch, inst.test_patch)
    assert check_both(tree, inst.patch, inst.test_patch) == "neither patch reverse-applies"


def test_a_patch_for_another_project_does_not_reverse(flask_230: Path, tmp_path: Path) -> None:
    other = _row("pytest-dev__pytest-7220")
    tree = unpack(flask_230, tmp_path / "src")
    assert check_both(tree, other.patch, other.test_patch) == "neither patch reverse-applies"


def test_git_apply_is_not_redirected_to_an_enclosing_repository(flask_230: Path, tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    inst = _row("pallets__flask-4992")
    (tmp_path / "nested").mkdir()
    tree = unpack(flask_230, tmp_path / "nested" / "src")
    reverse_patches(tree, inst.patch, inst.test_patch)
    assert not (tree / "tests" / "static" / "config.toml").exists()
    assert not (tmp_path / "tests").exists()


def test_unpack_refuses_members_outside_the_tree(tmp_path: Path) -> None:
    archive = tmp_path / "evil-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        data = b"owned\n"
        info = tarfile.TarInfo("evil-1.0/../../escaped.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    (tmp_path / "work").mkdir()
    with pytest.raises(BenchError, match="unsafe member"):
        unpack(archive, tmp_path / "work" / "src")
    assert not (tmp_path / "escaped.txt").exists()


def test_the_index_lists_the_release_source_archive() -> None:
    f = sdist_file("Flask", "2.3.0")
    assert f.filename == "Flask-2.3.0.tar.gz" and f.sha256 and f.upload_time.startswith("2023-04")
    with pytest.raises(BenchError, match="no source archive"):
        sdist_file("Flask", "0.0.0.0")
    json.dumps(f.__dict__)
