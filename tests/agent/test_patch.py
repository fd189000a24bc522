"""Dropping test-file changes from a patch before grading."""

from __future__ import annotations

from dgm.agent.patch import changed_files, drop_test_changes, is_test_path
from dgm.diffs import parse_diff, render_diff

SRC = """diff --git a/pkg/calc.py b/pkg/calc.py
index 1..2 100644
--- a/pkg/calc.py
+++ b/pkg/calc.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a - b
+    return a + b
"""
TEST = """diff --git a/pkg/tests/test_calc.py b/pkg/tests/test_calc.py
new file mode 100644
--- /dev/null
+++ b/pkg/tests/test_calc.py
@@ -0,0 +1 @@
+def test_x(): pass
"""
CONFTEST = """diff --git a/conftest.py b/conftest.py
deleted file mode 100644
--- a/conftest.py
+++ /dev/null
@@ -1 +0,0 @@
-import pytest
"""
RENAME = """diff --git a/test_old.py b/src/renamed.py
similarity index 100%
rename from test_old.py
rename to src/renamed.py
"""


def test_is_test_path():
    for path in ["tests/a.py", "pkg/tests/data/x.json", "testing/t.py", "test_a.py", "pkg/a_test.py",
                 "app/tests.py", "pkg/testing_utils.py", "test_data.txt"]:
        assert is_test_path(path), path
    # conftest.py and runtests.py are the runner's (dropped as such); pkg/test/ is a library package
    for path in ["pkg/calc.py", "testsuite.py", "pkg/contest.py", "latest/a.py", "conftest.py", "runtests.py",
                 "pkg/test/helpers.py"]:
        assert not is_test_path(path), path


def test_drop_keeps_source_and_drops_tests():
    patch = SRC + TEST + CONFTEST + RENAME
    assert changed_files(patch) == ["pkg/calc.py", "pkg/tests/test_calc.py", "conftest.py", "src/renamed.py"]
    canonical = render_diff(parse_diff(SRC))  # what grading applies: the parsed blocks, re-rendered
    assert drop_test_changes(patch) == canonical
    assert drop_test_changes(TEST + SRC) == canonical
    assert drop_test_changes("") == ""
    assert drop_test_changes(SRC) == canonical
