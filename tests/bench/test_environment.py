"""What an instance layer holds: the before state's difference from its release's tree."""

from __future__ import annotations

import os
from pathlib import Path

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
