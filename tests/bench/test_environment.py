"""What an instance layer holds: the before state's difference from its release's tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dgm.bench.environment import release_tree, tree_diff
from dgm.bench.recipe import EnvRecipe


def _tree(root: Path, files: dict[str, str], executables: tuple[str, ...] = ()) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if rel in executables:
            os.chmod(path, 0o755)
    return root


def test_the_diff_names_changed_deleted_and_executable_files(tmp_path: Path) -> None:
    release = _tree(tmp_path / "release", {
        "pkg/core.py": "fixed\n", "pkg/same.py": "same\n", "pkg/newmod/a.py": "added by the fix\n",
        "pkg/newmod/sub/b.py": "x\n", "CHANGES": "1.0: fixed it\n", "run.sh": "echo\n"})
    before = _tree(tmp_path / "before", {
        "pkg/core.py": "broken\n", "pkg/same.py": "same\n", "CHANGES": "stub\n", "run.sh": "echo\n",
        "tests/test_new_file_of_the_before_state.py": "t\n"}, executables=("run.sh",))
    diff = tree_diff(release, before)
    assert diff.changed == ["CHANGES", "pkg/core.py", "run.sh", "tests/test_new_file_of_the_before_state.py"]
    assert diff.deleted == ["pkg/newmod/a.py", "pkg/newmod/sub/b.py"]
    assert diff.deleted_dirs == ["pkg/newmod"]  # no empty folder names what the fix added
    assert diff.executables == ["run.sh"]
    assert not diff.touches_build


def test_an_instance_that_changes_how_the_project_builds_gets_its_own_environment(tmp_path: Path) -> None:
    release = _tree(tmp_path / "release", {"setup.py": "v2\n", "pkg/a.py": "a\n"})
    before = _tree(tmp_path / "before", {"setup.py": "v1\n", "pkg/a.py": "b\n"})
    other = _tree(tmp_path / "other", {"setup.py": "v2\n", "pkg/a.py": "c\n"})
    recipe = EnvRecipe("o__r-1", before, "bookworm", None, [], "", "true", "pytest", release_dir=release)
    assert tree_diff(release, before).touches_build
    assert release_tree(recipe) == (before, None)
    shared, diff = release_tree(EnvRecipe("o__r-2", other, "bookworm", None, [], "", "true", "pytest",
                                          release_dir=release))
    assert shared == release and diff is not None and diff.changed == ["pkg/a.py"]


@pytest.mark.docker
def test_what_the_release_install_wrote_from_the_fix_does_not_reach_the_instance(tmp_path: Path) -> None:
    """The shared environment installs the release, whose files hold the fix: an install that imports
    the package compiles them to bytecode, and one whose long description is the changelog writes the
    fix's entry into the egg-info. The instance layer carries neither, nor the release's blobs in git."""
    import subprocess
    import uuid

    from dgm.bench.environment import build_environment
    from dgm.sandbox.engine import docker_client

    marker = f"FIX_{uuid.uuid4().hex[:12]}"
    setup = ("from setuptools import setup\nsetup(name='pkg', version='1.0', packages=['pkg'],\n"
             "      long_description=open('README').read() + open('CHANGES').read())\n")
    common = {"setup.py": setup, "README": "pkg\n", "pkg/__init__.py": "", "pkg/same.py": "SAME = 1\n"}
    release = _tree(tmp_path / "release", {**common, "pkg/core.py": f"VALUE = '{marker}'\n",
                                           "CHANGES": f"1.0\n---\n- {marker}: fixed\n"})
    before = _tree(tmp_path / "before", {**common, "pkg/core.py": "VALUE = 'broken'\n", "CHANGES": "stub\n"})
    iid = f"dgm-test__fix-{uuid.uuid4().hex[:8]}"
    recipe = EnvRecipe(iid, before, "bookworm", None, [],
                       "python setup.py -q egg_info && python -c 'import pkg.core, pkg.same'", "true",
                       "pytest", release_dir=release, environment_key=iid)
    record: dict = {}
    image = build_environment(recipe, record=record)

    def run(tag: str, script: str) -> str:
        return subprocess.run(["docker", "run", "--rm", "--network", "none", tag, "bash", "-c",
                               "cd /opt/dgm/seed/testbed && " + script],
                              capture_output=True, text=True, timeout=120).stdout

    try:
        assert record["shared_release_tree"] is True
        # The case is real: the release environment holds the fix in bytecode and in the egg-info.
        below = run(record["environment_image"], f"grep -rl --exclude-dir=.git . -e {marker} | sort")
        assert "pkg.egg-info/PKG-INFO" in below and "core.cpython" in below, below
        out = run(image, f"grep -rl --exclude-dir=.git . -e {marker}; "
                         f"git cat-file --batch-all-objects --batch | grep -c {marker}; "
                         "cat pkg/core.py; find . -name '*.pyc' -not -path './.git/*'; "
                         "sed -n 1,3p pkg.egg-info/PKG-INFO")
        assert out.split()[0] == "0", out   # no file outside git, no object in git holds the fix
        assert "VALUE = 'broken'" in out and ".pyc" not in out, out
        assert "Name: pkg" in out and "Version: 1.0" in out, out  # the metadata's headers stay
    finally:
        for tag in (image, record.get("environment_image")):
            if tag:
                docker_client().images.remove(tag, force=True)
