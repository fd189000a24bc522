"""parse_diff reads the paths git will apply, and refuses what it cannot read unambiguously."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dgm.diffs import DiffRefused, changed_paths, parse_diff, render_diff

ROOT = Path(__file__).resolve().parents[2]


def git_numstat_paths(patch: str, tmp_path: Path) -> list[str]:
    """The paths `git apply` itself reads from PATCH (outside any repository, no config)."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)}
    proc = subprocess.run(["git", "apply", "--numstat", "-z", "-"], input=patch.encode(), cwd=tmp_path,
                          env=env, capture_output=True, check=True)
    out: list[str] = []
    fields = proc.stdout.split(b"\0")
    i = 0
    while i < len(fields) - 1:
        counts = fields[i].split(b"\t", 2)
        if counts[-1]:  # a plain entry: "added\tremoved\tpath"
            out.append(counts[-1].decode())
            i += 1
        else:  # a rename: "added\tremoved\t" NUL old NUL new
            out += [fields[i + 1].decode(), fields[i + 2].decode()]
            i += 3
    return list(dict.fromkeys(out))


def lite_patches() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (ROOT / "datasets" / "swebench_lite.jsonl").open()]
    return [(f"{r['instance_id']}:{key}", r[key]) for r in rows for key in ("patch", "test_patch")]


def test_every_lite_patch_reads_as_git_reads_it(tmp_path: Path) -> None:
    patches = lite_patches()
    assert len(patches) == 600
    for name, patch in patches:
        ours = changed_paths(patch)
        assert ours == git_numstat_paths(patch, tmp_path), name
        # the canonical text is the same diff: same paths, same hunks
        again = parse_diff(render_diff(parse_diff(patch)))
        assert [(b.paths, b.hunks) for b in again] == [(b.paths, b.hunks) for b in parse_diff(patch)], name


HONEST = """\
diff --git a/pkg/mod.py b/pkg/mod.py
index 1111111..2222222 100644
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -1,2 +1,2 @@
 def f():
-    return 1
+    return 2
"""


@pytest.mark.parametrize("patch", [
    # the diff --git line names a harmless file; ---/+++ (what git applies) name the test
    HONEST.replace("--- a/pkg/mod.py\n+++ b/pkg/mod.py", "--- a/tests/test_mod.py\n+++ b/tests/test_mod.py"),
    # only the +++ side disagrees
    HONEST.replace("+++ b/pkg/mod.py", "+++ b/conftest.py"),
    # header a/ and b/ differ without rename lines: git takes the names from ---/+++
    HONEST.replace("diff --git a/pkg/mod.py b/pkg/mod.py", "diff --git a/pkg/mod.py b/conftest.py"),
    # a rename whose lines disagree with the header
    HONEST.replace("index 1111111..2222222 100644\n",
                   "similarity index 90%\nrename from pkg/mod.py\nrename to tests/conftest.py\n"),
    # a traditional block whose sides disagree
    "--- a/pkg/mod.py\n+++ b/tests/conftest.py\n@@ -1 +1 @@\n-a\n+b\n",
])
def test_disagreeing_names_are_refused(patch: str, tmp_path: Path) -> None:
    with pytest.raises(DiffRefused, match="disagree|one path"):
        parse_diff(patch)


def test_a_block_hidden_behind_a_short_hunk_is_read_as_git_reads_it(tmp_path: Path) -> None:
    # the hunk header counts one line each; what follows is a new (traditional) block to git
    hidden = ("diff --git a/pkg/mod.py b/pkg/mod.py\n--- a/pkg/mod.py\n+++ b/pkg/mod.py\n"
              "@@ -1 +1 @@\n-a\n+b\n--- a/tests/conftest.py\n+++ b/tests/conftest.py\n"
              "@@ -1 +1 @@\n-x\n+y\n")
    assert changed_paths(hidden) == git_numstat_paths(hidden, tmp_path) == ["pkg/mod.py", "tests/conftest.py"]


@pytest.mark.parametrize("patch, why", [
    (HONEST.replace("@@ -1,2 +1,2 @@", "@@ -1,3 +1,3 @@"), "ends before"),
    (HONEST + "+extra line past the count\n", "outside any complete block"),
    (HONEST + "@@ -9 +9 @@\n", "ends before"),
    ("@@ -1 +1 @@\n-a\n+b\n", "outside any complete block"),
    (HONEST.replace("pkg/mod.py", "../outside.py"), "not a plain path"),
    (HONEST.replace("pkg/mod.py", ".git/config"), "not a plain path"),
    (HONEST.replace("pkg/mod.py", "pkg/.GIT/hooks/x"), "not a plain path"),
    (HONEST.replace("a/pkg/mod.py b/pkg/mod.py", '"a/.g\\151t/x" "b/.g\\151t/x"')
     .replace("--- a/pkg/mod.py\n+++ b/pkg/mod.py", '--- "a/.g\\151t/x"\n+++ "b/.g\\151t/x"'), "not a plain path"),
    ("--- a/../etc/passwd\n+++ b/../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n", "not a plain path"),
    ("just prose, no diff\n", "no diff block"),
    (HONEST.replace("index 1111111..2222222 100644", "new file mode 100644\ndeleted file mode 100644"),
     "contradictory"),
])
def test_malformed_or_escaping_diffs_are_refused(patch: str, why: str) -> None:
    with pytest.raises(DiffRefused, match=why):
        parse_diff(patch)


def test_prose_around_a_diff_is_dropped_from_the_canonical_text() -> None:
    text = "Fix the thing.\n\nSigned-off-by: someone\n" + HONEST + "\nthanks\n"
    blocks = parse_diff(text)
    assert [b.paths for b in blocks] == [("pkg/mod.py",)]
    assert "Fix the thing" not in render_diff(blocks) and "thanks" not in render_diff(blocks)


def test_quoted_and_spaced_paths_round_trip(tmp_path: Path) -> None:
    patch = ('diff --git "a/dir/with space\\tand tab.py" "b/dir/with space\\tand tab.py"\n'
             'new file mode 100644\n--- /dev/null\n+++ "b/dir/with space\\tand tab.py"\n@@ -0,0 +1 @@\n+x\n')
    [block] = parse_diff(patch)
    assert block.new_path == "dir/with space\tand tab.py" and block.old_path is None
    assert changed_paths(render_diff([block])) == git_numstat_paths(render_diff([block]), tmp_path)
