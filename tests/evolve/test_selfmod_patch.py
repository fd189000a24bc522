"""A self-modification patch is data: applied on the host to a fresh copy, never trusted."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm.evolve.selfmod import PatchRefused, apply_patch

EDIT = """diff --git a/agent.py b/agent.py
--- a/agent.py
+++ b/agent.py
@@ -1 +1 @@
-STEPS = 10
+STEPS = 20
diff --git a/coder/new.py b/coder/new.py
new file mode 100644
--- /dev/null
+++ b/coder/new.py
@@ -0,0 +1 @@
+X = 1
"""


@pytest.fixture
def parent(tmp_path: Path) -> Path:
    tree = tmp_path / "parent"
    (tree / "coder").mkdir(parents=True)
    (tree / "agent.py").write_text("STEPS = 10\n")
    return tree


def test_a_patch_makes_a_child_and_leaves_the_parent_alone(parent: Path, tmp_path: Path) -> None:
    child = apply_patch(parent, EDIT, tmp_path / "child")
    assert (child / "agent.py").read_text() == "STEPS = 20\n" and (child / "coder" / "new.py").exists()
    assert (parent / "agent.py").read_text() == "STEPS = 10\n" and not (parent / "coder" / "new.py").exists()
    assert not (child / ".git").exists()


@pytest.mark.parametrize("patch, words", [
    (EDIT.replace("coder/new.py", "../outside.py"), "not a plain path inside the tree"),
    (EDIT.replace("coder/new.py", ".git/hooks/post-commit"), "not a plain path inside the tree"),
    (EDIT.replace("a/coder/new.py b/coder/new.py", "a//etc/x b//etc/x").replace("+++ b/coder/new.py", "+++ /etc/x"),
     "not a plain path inside the tree"),
    ("diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+/etc/passwd\n"
     "\\ No newline at end of file\n", "symbolic link"),
    (EDIT.replace("-STEPS = 10", "-STEPS = 99"), "does not apply"),
])
def test_hostile_or_broken_patches_are_refused(parent: Path, tmp_path: Path, patch: str, words: str) -> None:
    with pytest.raises(PatchRefused, match=words):
        apply_patch(parent, patch, tmp_path / "child")
    assert not (tmp_path / "outside.py").exists()
