"""apply_diff: git's result for diffs git made, and refusal for links, escapes and mismatches."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from dgm.diffapply import apply_diff
from dgm.diffs import DiffRefused, parse_diff


def git(repo: Path, *args: str) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull}
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, env=env,
                          capture_output=True, check=True).stdout.decode("utf-8", "surrogateescape")


def snapshot(root: Path) -> dict[str, tuple[bytes, bool]]:
    out = {}
    for path in sorted(root.rglob("*")):
        if ".git" in path.relative_to(root).parts or not path.is_file():
            continue
        out[path.relative_to(root).as_posix()] = (path.read_bytes(), os.access(path, os.X_OK))
    return out


def random_text(rng: random.Random, n: int) -> bytes:
    words = ["alpha", "beta", "", "    return x", "def f():", "}", "# note", "x = 1", "y = 2"]
    lines = [rng.choice(words) for _ in range(n)]
    data = "\n".join(lines).encode()
    return data if rng.random() < 0.2 else data + b"\n"


def mutate(rng: random.Random, root: Path) -> None:
    files = [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]
    for path in files:
        roll = rng.random()
        if roll < 0.15:
            path.unlink()
        elif roll < 0.25:
            path.chmod(0o755 if not os.access(path, os.X_OK) else 0o644)
        elif roll < 0.35:
            target = root / f"moved_{rng.randrange(1000)}" / path.name
            target.parent.mkdir(exist_ok=True)
            path.rename(target)
        elif roll < 0.8:
            lines = path.read_bytes().split(b"\n")
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(len(lines) + 1)
                if rng.random() < 0.5 and i < len(lines):
                    del lines[i]
                else:
                    lines.insert(i, rng.choice([b"inserted", b"", b"  changed"]))
            path.write_bytes(b"\n".join(lines))
    for k in range(rng.randrange(0, 3)):
        (root / f"new_{k}").mkdir(exist_ok=True)
        (root / f"new_{k}" / "made.py").write_bytes(random_text(rng, rng.randrange(0, 6)))


@pytest.mark.parametrize("seed", range(25))
def test_matches_git_on_diffs_git_made(seed: int, tmp_path: Path) -> None:
    rng = random.Random(seed)
    repo = tmp_path / "repo"
    for i in range(6):
        path = repo / rng.choice(["", "pkg/", "pkg/sub/"]) / f"f{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(random_text(rng, rng.randrange(1, 40)))
    git(repo.parent, "init", "-q", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    before = tmp_path / "before"
    shutil.copytree(repo, before, ignore=shutil.ignore_patterns(".git"))
    mutate(rng, repo)
    git(repo, "add", "-A")
    for renames in ("--no-renames", "-M"):
        patch = git(repo, "diff", "--cached", "--binary", renames)
        if not patch:
            continue
        work = tmp_path / f"work{renames}"
        shutil.copytree(before, work)
        apply_diff(work, parse_diff(patch))
        assert snapshot(work) == snapshot(repo), renames


BASE = "def f():\n    return 1\n"
PATCH = ("diff --git a/mod.py b/mod.py\n--- a/mod.py\n+++ b/mod.py\n"
         "@@ -1,2 +1,2 @@\n def f():\n-    return 1\n+    return 2\n")


def test_a_link_in_the_tree_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text(BASE)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "mod.py").symlink_to(outside)
    with pytest.raises(DiffRefused, match="symbolic link"):
        apply_diff(tree, parse_diff(PATCH))
    assert outside.read_text() == BASE
    (tree / "mod.py").unlink()
    (tree / "pkg").symlink_to(tmp_path)
    with pytest.raises(DiffRefused, match="not a directory"):
        apply_diff(tree, parse_diff(PATCH.replace("mod.py", "pkg/outside.py")))
    assert outside.read_text() == BASE


@pytest.mark.parametrize("patch, why", [
    (PATCH.replace("return 1", "return 7"), "does not match"),
    ("diff --git a/link b/link\nnew file mode 120000\n--- /dev/null\n+++ b/link\n@@ -0,0 +1 @@\n+/etc\n"
     "\\ No newline at end of file\n", "symbolic link"),
    ("diff --git a/mod.py b/mod.py\nnew file mode 100644\n--- /dev/null\n+++ b/mod.py\n@@ -0,0 +1 @@\n+x\n",
     "already exists"),
    ("diff --git a/gone.py b/gone.py\n--- a/gone.py\n+++ b/gone.py\n@@ -1 +1 @@\n-a\n+b\n", "does not exist"),
])
def test_refused_patches_change_nothing(patch: str, why: str, tmp_path: Path) -> None:
    (tmp_path / "mod.py").write_text(BASE)
    (tmp_path / "other.py").write_text("keep\n")
    two = PATCH.replace("mod.py", "other.py").replace(" def f():\n-    return 1\n+    return 2", "-keep\n+changed")
    two = two.replace("@@ -1,2 +1,2 @@", "@@ -1 +1 @@")
    with pytest.raises(DiffRefused, match=why):
        apply_diff(tmp_path, parse_diff(two + patch))
    assert (tmp_path / "other.py").read_text() == "keep\n" and (tmp_path / "mod.py").read_text() == BASE


def test_a_fifo_is_not_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "mod.py")
    with pytest.raises(DiffRefused, match="not a regular file"):
        apply_diff(tmp_path, parse_diff(PATCH))
