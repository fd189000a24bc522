"""Paths a model patch may not change: the tests, and whatever decides how tests are run and judged.

A model patch changes the code under test. Test files, the test runner's configuration and
plugins, interpreter start-up hooks and the runner itself belong to the grader: their edits
are dropped before grading (and the grader checks, after applying, that none got through).
"""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import PurePosixPath
from typing import Callable

_TEST_WORDS = {"test", "tests", "testing"}  # swebench's is_test phrases (checked by a test)
_LIBRARY_TEST_PACKAGES = {"test", "testing"}  # inside a project: test helpers shipped as library code

# Read by pytest, tox, setuptools or coverage when tests start; a patch could load a plugin,
# add options (-p, --deselect, -k), or change collection from any of them.
RUNNER_CONFIG = {"pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml", ".coveragerc",
                 "conftest.py", "entry_points.txt"}
# Imported by every Python start-up that has the repository on sys.path (editable installs do).
STARTUP_HOOKS = {"sitecustomize.py", "usercustomize.py"}
# Git attributes change how `git apply` and `git diff` see files; the grader relies on both.
GIT_FILES = {".gitattributes", ".gitmodules"}
# Test runners that live in repositories SWE-bench grades with them.
RUNNER_SCRIPTS = {
    # runtests.py drives django.test.runner's DiscoverRunner: it collects, runs and reports.
    "django/django": {"tests/runtests.py", "tests/test_sqlite.py", "django/test/runner.py"},
    "sympy/sympy": {"bin/test", "sympy/testing/runtests.py", "sympy/utilities/runtests.py",
                    "sympy/testing/pytest.py", "sympy/utilities/pytest.py"},
}
# A file of this name runs a repository's test suite wherever it lives (Django, SymPy, others).
RUNNER_NAMES = {"runtests.py"}
# Top-level modules that, created at the repository root (first on sys.path for `python -m` and
# `python -c`), would replace the runner or a standard module it imports.
RUNNER_MODULES = {"pytest", "_pytest", "pluggy", "py", "iniconfig", "unittest", "nose", "xdist",
                  "coverage", "_virtualenv", "distutils", "setuptools", "pkg_resources"}
_STDLIB = set(getattr(sys, "stdlib_module_names", ())) | RUNNER_MODULES
# Repositories whose own source is the runner: there `_pytest/`, `pytest.py` are code under test.
RUNNER_REPOS = {"pytest-dev/pytest": {"pytest", "_pytest", "py"}, "pytest-dev/pluggy": {"pluggy"}}


@cache
def _swebench_is_test() -> Callable[[str], bool]:
    # swebench's own rule (a word of the path, split at "/", "_", "." and spaces, is test, tests or
    # testing); the module pulls GitPython, so it is imported on first use, not at start-up.
    from swebench.inference.make_datasets.utils import is_test

    return is_test


def _words(part: str) -> set[str]:
    return set(re.split(r" |_|/|\.", part.lower()))


def looks_like_tests(path: str) -> bool:
    """Library code whose only test words are packages named test or testing inside the project
    (django/test/, sympy/testing/, lib/matplotlib/testing/) or a module named [_]testing.py
    (xarray/testing.py, sklearn/utils/_testing.py): the code under test, not a test."""
    parts = PurePosixPath(path).parts
    carriers = [(i, part) for i, part in enumerate(parts) if _words(part) & _TEST_WORDS]
    if not carriers:
        return False
    last = len(parts) - 1
    for i, part in carriers:
        if i == 0:
            return False  # a top-level test/ or testing/ folder is the test suite (pytest's testing/)
        if i < last and part.lower() not in _LIBRARY_TEST_PACKAGES:
            return False
        if i == last and not (part.endswith(".py") and part[:-3].lower().lstrip("_") == "testing"):
            return False
    return True


def is_test_path(path: str) -> bool:
    """Whether a repository path is a test file by SWE-bench's rule, library code that merely
    looks like tests excepted (see looks_like_tests)."""
    return _swebench_is_test()(path) and not looks_like_tests(path)


def runner_reason(path: str, repo: str = "", *, created: bool = False) -> str | None:
    """Why PATH belongs to the test runner rather than the code under test, or None."""
    parts = PurePosixPath(path).parts
    if not parts:
        return None
    name = parts[-1]
    if name in RUNNER_CONFIG:
        return f"test-runner configuration ({name})"
    if name in STARTUP_HOOKS or name.endswith(".pth"):
        return f"interpreter start-up hook ({name})"
    if name in GIT_FILES:
        return f"git configuration ({name})"
    if any(p.endswith((".egg-info", ".dist-info", ".egg-link")) for p in parts):
        return "installed package metadata (entry points, plugins)"
    if "__pycache__" in parts or name.endswith((".pyc", ".pyo")):
        return "compiled bytecode (runs instead of the source)"
    if path in RUNNER_SCRIPTS.get(repo, ()) or name in RUNNER_NAMES:
        return f"the repository's test runner ({path})"
    top = parts[0][:-3] if len(parts) == 1 and parts[0].endswith(".py") else parts[0]
    own = RUNNER_REPOS.get(repo, set())
    if top in RUNNER_MODULES and top not in own and (len(parts) == 1 or created):
        return f"a module that shadows the test runner ({top})"
    if created and len(parts) <= 2 and top in _STDLIB and top not in own and (
            len(parts) == 1 or name == "__init__.py"):
        return f"a module that shadows the standard library ({top})"
    return None


def protected_reason(path: str, repo: str = "", hidden: frozenset[str] | set[str] = frozenset(),
                     *, created: bool = False) -> str | None:
    """Why a model patch may not touch PATH (test file, hidden test file, runner), or None."""
    if path in hidden:
        return "a file the hidden tests change"
    if is_test_path(path):
        return "a test file"
    return runner_reason(path, repo, created=created)
