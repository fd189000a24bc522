"""git on the host reads no configuration but the engine's: a hostile HOME, system config, GIT_*
environment or release tree runs nothing, and the archive still works."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dgm.archive import Archive
from dgm.archive.fsck import fsck
from dgm.bench.pypi.reverse import reverse_patches, reverses_cleanly
from dgm.hostgit import run_git
from tests.archive import hostile


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    path = tmp_path / "markers"
    path.mkdir()
    return path


@pytest.fixture
def hostile_host(tmp_path: Path, markers: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's HOME, XDG config, system config and GIT_* variables, each set to run commands."""
    home = tmp_path / "home"
    hooks = home / "hooks"
    hooks.mkdir(parents=True)
    for name in hostile.HOOKS:
        (hooks / name).write_text(hostile.hook_text(markers, name))
        os.chmod(hooks / name, 0o755)
    (home / "attributes").write_text("* diff=x filter=x\n")
    global_config = (hostile.config_text(markers).replace("hooksPath = hooks", f"hooksPath = {hooks}")
                     + f"[core]\n\tattributesFile = {home / 'attributes'}\n"
                     + f"[alias]\n\tfsck = !touch {markers}/alias\n")
    (home / ".gitconfig").write_text(global_config)
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".config" / "git" / "config").write_text(global_config)
    (home / "system.gitconfig").write_text(global_config)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(home / "system.gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "core.hooksPath")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", str(hooks))
    monkeypatch.setenv("GIT_EXTERNAL_DIFF", f"touch {markers}/external-diff")
    monkeypatch.setenv("GIT_PAGER", f"touch {markers}/pager-env")
    return home


def test_the_archive_ignores_a_hostile_global_and_system_config(hostile_host: Path, markers: Path,
                                                                tmp_path: Path, make_tree) -> None:
    # the user's own git does run these (so the fixture is armed)...
    probe = tmp_path / "probe.git"
    subprocess.run(["git", "init", "-q", "--bare", str(probe)], check=True, capture_output=True)
    subprocess.run(["git", "--git-dir", str(probe), "update-ref", "refs/x",
                    "4b825dc642cb6eb9a060e54bf8d69288fbee4904"], capture_output=True)
    assert hostile.ran(markers), "the hostile config should fire for a plain git"
    for marker in markers.iterdir():
        marker.unlink()
    # ...and every archive operation, on the host's git, runs none of them.
    with Archive.create(tmp_path / "run", make_tree(0, "seed")) as archive:
        node = archive.add_node("0", make_tree(1))
        assert "VERSION = 1" in archive.diff("0", node.id)
        out = archive.checkout(node.id, tmp_path / "out")
        assert "VERSION = 1" in (out / "agent.py").read_text()
        archive.git.delete_ref(node.id)
        archive.git.write_ref(node.id, node.commit)
        assert archive.git.refs()[node.id] == node.commit
    report = fsck(tmp_path / "run")
    assert report.ok, report.problems
    assert hostile.ran(markers) == []
    config = (tmp_path / "run" / "archive.git" / "config").read_text()
    assert "bare = true" in config and "hooks" not in config and not (tmp_path / "run" / "archive.git" / "hooks").exists()


def test_fsck_still_finds_damage_through_the_pinned_git(tmp_path: Path, make_tree) -> None:
    with Archive.create(tmp_path / "run", make_tree(0, "seed")) as archive:
        node = archive.add_node("0", make_tree(1))
        blob = run_git(archive.git.path, "rev-parse", f"{node.commit}:agent.py").stdout.decode().strip()
    (tmp_path / "run" / "archive.git" / "objects" / blob[:2] / blob[2:]).write_bytes(b"garbage")
    kinds = {p.kind for p in fsck(tmp_path / "run").problems}
    assert "git-object" in kinds


GOLD = """diff --git a/pkg/mod.py b/pkg/mod.py
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -1 +1 @@
-X = 1
+X = 2
"""


@pytest.mark.parametrize("prefix", ["", "pkg/"])
def test_a_release_tree_that_is_a_repository_runs_nothing(hostile_host: Path, markers: Path, tmp_path: Path,
                                                          prefix: str) -> None:
    tree = tmp_path / "release"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "mod.py").write_text("X = 2\n")
    (tree / ".gitattributes").write_text("* filter=x diff=x\n")
    hostile.plant(tree, markers, prefix)
    assert reverses_cleanly(tree, GOLD) == (True, "")
    reverse_patches(tree, GOLD, "")
    assert (tree / "pkg" / "mod.py").read_text() == "X = 1\n"
    assert hostile.ran(markers) == []
