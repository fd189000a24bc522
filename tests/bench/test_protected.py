"""Which paths a model patch may not change, and how a patch is screened before grading."""

from __future__ import annotations

import pytest

from dgm.bench.applycheck import SEPARATOR, check_changes, parse_listing
from dgm.bench.patches import screen_patch
from dgm.bench.protected import is_test_path, protected_reason, runner_reason
from tests.bench import adversarial

FIX = "diff --git a/pkg/mod.py b/pkg/mod.py\n--- a/pkg/mod.py\n+++ b/pkg/mod.py\n@@ -1 +1 @@\n-a\n+b\n"


def new_file(path: str, body: str = "x = 1\n") -> str:
    lines = body.splitlines()
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1,{len(lines)} @@\n" + "".join(f"+{x}\n" for x in lines))


@pytest.mark.parametrize("path", [
    "pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml", "sub/pyproject.toml", ".coveragerc",
    "conftest.py", "pkg/conftest.py", "sitecustomize.py", "pkg/usercustomize.py", "evil.pth", "lib/x.pth",
    "pkg.egg-info/entry_points.txt", "x.dist-info/METADATA", "entry_points.txt", "pkg/__pycache__/m.cpython-311.pyc",
    "pkg/m.pyc", ".gitattributes", "pytest.py", "_pytest/__init__.py", "pluggy.py", "unittest.py"])
def test_runner_files_are_protected(path):
    assert runner_reason(path, "org/repo", created=True), path


@pytest.mark.parametrize("path,repo", [("pkg/mod.py", "org/repo"), ("README.md", "org/repo"),
                                       ("src/_pytest/runner.py", "pytest-dev/pytest"),
                                       ("src/pytest/__init__.py", "pytest-dev/pytest"),
                                       ("setup.py", "org/repo"), ("pkg/json/__init__.py", "org/repo"),
                                       ("docs/conf.py", "org/repo")])
def test_code_under_test_is_not(path, repo):
    assert protected_reason(path, repo, created=True) is None, path


# (path, test file by swebench's rule, dgm's verdict): library code that looks like tests is code.
TEST_FILE_CASES = [
    ("tests/test_basic.py", True, True), ("sympy/core/tests/test_basic.py", True, True),
    ("testing/test_skipping.py", True, True), ("test_requests.py", True, True), ("pkg/foo_test.py", True, True),
    ("django/contrib/admin/tests.py", True, True), ("sympy/testing/tests/test_pytest.py", True, True),
    ("astropy/tests/helper.py", True, True), ("tests/runtests.py", True, True),
    ("django/test/client.py", True, False), ("django/test/testcases.py", True, False),
    ("sympy/testing/randtest.py", True, False), ("lib/matplotlib/testing/decorators.py", True, False),
    ("xarray/testing.py", True, False), ("sklearn/utils/_testing.py", True, False),
    ("src/_pytest/python.py", False, False), ("src/_pytest/pytester.py", False, False),
    ("conftest.py", False, False), ("pkg/contest.py", False, False),
]


@pytest.mark.parametrize("path,swebench_says,dgm_says", TEST_FILE_CASES)
def test_test_files_are_swebench_s_minus_library_lookalikes(path, swebench_says, dgm_says):
    from swebench.inference.make_datasets.utils import is_test

    assert bool(is_test(path)) is swebench_says
    assert is_test_path(path) is dgm_says


def test_library_test_packages_stay_protected_where_they_run_the_tests():
    # code under test, so a fix there is graded ...
    assert protected_reason("django/test/client.py", "django/django") is None
    assert protected_reason("sympy/testing/randtest.py", "sympy/sympy") is None
    # ... but the runner inside them, the runner's configuration and the hidden tests stay the grader's
    assert "test runner" in protected_reason("django/test/runner.py", "django/django")
    assert "test runner" in protected_reason("sympy/testing/runtests.py", "sympy/sympy")
    assert "test runner" in protected_reason("pkg/runtests.py", "org/repo")
    assert "configuration" in protected_reason("lib/matplotlib/testing/conftest.py", "matplotlib/matplotlib")
    assert protected_reason("django/test/client.py", "django/django",
                            frozenset({"django/test/client.py"})) == "a file the hidden tests change"


def test_repository_runners_and_stdlib_shadows():
    assert runner_reason("sympy/utilities/runtests.py", "sympy/sympy")
    assert runner_reason("bin/test", "sympy/sympy") and not runner_reason("bin/test", "org/repo")
    assert protected_reason("tests/test_sqlite.py", "django/django")
    assert runner_reason("json.py", "org/repo", created=True)  # a new top-level module shadows the stdlib
    assert not runner_reason("json.py", "org/repo")  # an existing one is the project's own


@pytest.mark.parametrize("extra", [new_file("sitecustomize.py"), new_file("pkg/evil.pth", "import os"),
                                   new_file("pkg/conftest.py"), new_file("pytest.ini", "[pytest]"),
                                   new_file("pkg.egg-info/entry_points.txt", "[pytest11]")])
def test_screening_drops_runner_files_and_keeps_the_fix(extra):
    screened = screen_patch(FIX + extra, repo="org/repo")
    assert screened.refused is None and screened.paths == ["pkg/mod.py"]
    assert len(screened.dropped) == 1 and screened.text.startswith("diff --git a/pkg/mod.py")


def test_symbolic_links_are_dropped():
    link = ("diff --git a/pkg/link b/pkg/link\nnew file mode 120000\n--- /dev/null\n+++ b/pkg/link\n"
            "@@ -0,0 +1 @@\n+../tests\n\\ No newline at end of file\n")
    screened = screen_patch(FIX + link)
    assert screened.paths == ["pkg/mod.py"] and "symbolic link" in screened.dropped[0][1]


def test_every_mismatched_header_shape_is_refused():
    for name, patch in adversarial.header_hacks().items():
        screened = screen_patch(patch)
        assert screened.refused and screened.text == "", name


def test_the_changed_set_must_equal_the_parsed_set():
    listing = "gone.py\0" + SEPARATOR + "./pkg/mod.py\0./pkg/mod.py.orig\0"
    assert parse_listing(listing) == {"gone.py", "pkg/mod.py", "pkg/mod.py.orig"}
    assert check_changes(parse_listing(listing), ["pkg/mod.py", "gone.py"]) == []
    smuggled = check_changes({"pkg/mod.py", "conftest.py"}, ["pkg/mod.py"])
    assert any("does not name: conftest.py" in p for p in smuggled)
    assert any("changed conftest.py: test-runner configuration" in p for p in smuggled)
    assert check_changes({"pkg/mod.py"}, ["pkg/mod.py", "pkg/other.py"])  # a block that changed nothing
    assert check_changes(None, ["pkg/mod.py"]) and parse_listing("garbage") is None
