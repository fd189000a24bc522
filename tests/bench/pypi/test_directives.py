"""Which tests a real Lite row runs, derived from its test patch."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm.bench.instances import load_instances
from dgm.bench.pypi.directives import patched_files, directives_for
from dgm.bench.pypi.specs import spec_for, sympy_test_command
from dgm.errors import BenchError

LITE = Path(__file__).resolve().parents[3] / "datasets" / "swebench_lite.jsonl"


def _row(instance_id: str):
    return load_instances(LITE, ids=[instance_id])[0]


def test_fixture_files_are_not_run() -> None:
    inst = _row("pallets__flask-4992")
    assert patched_files(inst.test_patch) == ["tests/static/config.toml", "tests/test_config.py"]
    assert directives_for(inst.repo, inst.test_patch) == ["tests/test_config.py"]


def test_django_runs_test_modules_not_files() -> None:
    inst = _row("django__django-12915")
    assert directives_for(inst.repo, inst.test_patch) == ["asgi.tests", "staticfiles_tests.test_handlers"]
    assert directives_for("django/django", _row("django__django-15851").test_patch) == [
        "dbshell.test_postgresql"]


def test_sympy_runs_through_sympy_test_with_files() -> None:
    inst = _row("sympy__sympy-20590")
    files = directives_for(inst.repo, inst.test_patch)
    assert files == ["sympy/core/tests/test_basic.py"]
    cmd = sympy_test_command(files)
    assert "sympy.test('sympy/core/tests/test_basic.py', verbose=True)" in cmd


def test_compiled_projects_get_a_compiler_or_are_refused_with_the_reason() -> None:
    with pytest.raises(BenchError, match="needs a compiler in the image"):
        spec_for("astropy/astropy", "4.3", "5.1")
    with pytest.raises(BenchError, match="needs a compiler in the image"):
        spec_for("scikit-learn/scikit-learn", "0.20", "0.20.0")
    astropy = spec_for("astropy/astropy", "5.2", "5.3.1")
    assert astropy.debian_packages == ["build-essential", "python3-dev"] and "setuptools==68.0.0" in astropy.pins
    with pytest.raises(BenchError, match="no environment spec"):
        spec_for("example/unknown", "1.0", "1.0")
    assert spec_for("pallets/flask", "2.3", "2.3.0").suite == "bookworm"
    pytest_spec = spec_for("pytest-dev/pytest", "5.4", "5.4.3")
    assert pytest_spec.suite == "bullseye"
    assert pytest_spec.build_env == {"SETUPTOOLS_SCM_PRETEND_VERSION": "5.4.3"}


def test_matplotlib_builds_against_debian_freetype_and_qhull_for_verified_releases(tmp_path: Path) -> None:
    """The image has no network, so matplotlib's setup must not fetch FreeType or Qhull: the spec
    brings Debian's and writes the mplsetup.cfg that tells setupext to use them."""
    import configparser
    import subprocess

    from dgm.bench.pypi.specs import MPLSETUPCFG

    spec = spec_for("matplotlib/matplotlib", "3.5", "3.6.0")
    assert spec.suite == "bookworm" and spec.log_parser == "matplotlib/matplotlib"
    assert {"build-essential", "python3-dev", "libfreetype-dev", "libqhull-dev"} <= set(spec.debian_packages)
    assert spec.build_env["MPLSETUPCFG"] == MPLSETUPCFG
    assert spec.env["SETUPTOOLS_SCM_PRETEND_VERSION"] == "3.6.0"
    # The configuration the install reads is what the pre-install step writes.
    [write] = [cmd for cmd in spec.pre_install if cmd.endswith(f"> {MPLSETUPCFG}")]
    subprocess.run(["bash", "-euc", write.replace(MPLSETUPCFG, str(tmp_path / "mplsetup.cfg"))], check=True)
    config = configparser.ConfigParser()
    config.read(tmp_path / "mplsetup.cfg")
    assert config.getboolean("libs", "system_freetype") and config.getboolean("libs", "system_qhull")
    # The text of the test images needs FreeType 2.6.1: the release wheel's ft2font replaces the built one.
    assert any("site-packages/matplotlib/ft2font" in cmd for cmd in spec.pre_install)
    assert any(cmd.endswith("lib/matplotlib/ft2font.cpython-311-x86_64-linux-gnu.so") for cmd in spec.post_install)
    # Releases no build was checked for stay refused, with the reason.
    with pytest.raises(BenchError, match="needs a compiler in the image"):
        spec_for("matplotlib/matplotlib", "3.5", "3.5.3")
