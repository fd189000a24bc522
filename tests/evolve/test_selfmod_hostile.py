"""A parent or a patch that plants a git repository: no command of it runs on the host, and the
child is refused with the name it broke the rule with (agents_archive/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm.evolve.selfmod import PatchRefused, apply_patch
from tests.archive import hostile

EDIT = """diff --git a/agent.py b/agent.py
--- a/agent.py
+++ b/agent.py
@@ -1 +1 @@
-STEPS = 10
+STEPS = 20
"""


def create(path: str, text: str, mode: str = "100644") -> str:
    lines = text.splitlines()
    body = "".join(f"+{line}\n" for line in lines)
    return (f"diff --git a/{path} b/{path}\nnew file mode {mode}\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n{body}")


def planting_patch(markers: Path, prefix: str = "") -> str:
    return EDIT + "".join(create(prefix + rel, text, "100755" if x else "100644")
                          for rel, (text, x) in hostile.files(markers).items())


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    path = tmp_path / "markers"
    path.mkdir()
    return path


@pytest.fixture
def parent(tmp_path: Path) -> Path:
    tree = tmp_path / "parent"
    (tree / "coder").mkdir(parents=True)
    (tree / "agent.py").write_text("STEPS = 10\n")
    (tree / "coder" / "prompts.py").write_text("SYSTEM = 'fix it'\n")
    return tree


@pytest.mark.parametrize("prefix", ["", "coder/", "coder/deep/er/"])
def test_a_parent_that_is_a_bare_repository_runs_nothing(parent: Path, markers: Path, tmp_path: Path,
                                                         prefix: str) -> None:
    hostile.plant(parent, markers, prefix)
    with pytest.raises(PatchRefused) as refused:
        apply_patch(parent, EDIT, tmp_path / "child")
    assert refused.value.reason == "forbidden name in tree: HEAD"
    assert hostile.ran(markers) == []
    assert not (tmp_path / "child").exists()  # nothing planted is left on the host


def test_a_gitdir_file_pointing_at_a_hostile_repository_runs_nothing(parent: Path, markers: Path,
                                                                     tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    hostile.plant(elsewhere, markers)
    (parent / ".git").write_text(f"gitdir: {elsewhere}\n")
    with pytest.raises(PatchRefused) as refused:
        apply_patch(parent, EDIT, tmp_path / "child")
    assert refused.value.reason == "forbidden name in tree: .git"
    assert hostile.ran(markers) == []


def test_gitattributes_with_a_filter_is_refused(parent: Path, markers: Path, tmp_path: Path) -> None:
    (parent / ".gitattributes").write_text("* filter=x\n")
    with pytest.raises(PatchRefused) as refused:
        apply_patch(parent, EDIT, tmp_path / "child")
    assert refused.value.reason == "forbidden name in tree: .gitattributes"


@pytest.mark.parametrize("prefix", ["", "coder/", "coder/a/b/"])
def test_a_patch_that_plants_a_repository_is_refused(parent: Path, markers: Path, tmp_path: Path,
                                                     prefix: str) -> None:
    with pytest.raises(PatchRefused) as refused:
        apply_patch(parent, planting_patch(markers, prefix), tmp_path / "child")
    assert refused.value.reason == "forbidden name in tree: HEAD"
    assert hostile.ran(markers) == []


RENAME = "diff --git a/{old} b/{new}\nsimilarity index 100%\nrename from {old}\nrename to {new}\n"


@pytest.mark.parametrize("new, reason", [
    ("HEAD", "forbidden name in tree: HEAD"),
    ("coder/head", "forbidden name in tree: HEAD"),
    ("HEAD.", "forbidden name in tree: HEAD"),
    (".gitattributes", "forbidden name in tree: .gitattributes"),
    ("coder/.gitmodules", "forbidden name in tree: .gitmodules"),
    (".g\u200cit/config", "forbidden name in tree: .git"),
    ("GIT~1/config", "forbidden name in tree: .git"),
    ("coder/.hg/hgrc", "forbidden name in tree: .hg"),
    ("coder/.GIT/config", "patch refused"),   # diffs refuses .git in any case before a name rule
])
def test_a_patch_that_renames_into_a_forbidden_name_is_refused(parent: Path, tmp_path: Path, new: str,
                                                               reason: str) -> None:
    patch = RENAME.format(old="coder/prompts.py", new=new)
    with pytest.raises(PatchRefused) as refused:
        apply_patch(parent, patch, tmp_path / "child")
    assert refused.value.reason == reason
    assert not (tmp_path / "child" / new).exists()


def test_a_gitdir_file_made_by_a_patch_is_refused(parent: Path, markers: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    hostile.plant(elsewhere, markers)
    with pytest.raises(PatchRefused, match="not a plain path"):
        apply_patch(parent, EDIT + create("coder/.git", f"gitdir: {elsewhere}"), tmp_path / "child")
    assert hostile.ran(markers) == []


def test_an_honest_patch_with_lookalike_names_is_applied(parent: Path, tmp_path: Path) -> None:
    patch = EDIT + create("coder/head.py", "X = 1") + create(".github/notes.md", "n") + \
        create("coder/config", "k = v") + create("refs/objects.txt", "r") + create(".gitignore", "*.log")
    child = apply_patch(parent, patch, tmp_path / "child")
    assert (child / "agent.py").read_text() == "STEPS = 20\n"
    assert (child / "coder" / "head.py").read_text() == "X = 1\n"
    assert (parent / "agent.py").read_text() == "STEPS = 10\n"
