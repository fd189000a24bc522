"""Paths a model patch may not change: the tests, and whatever decides how tests are run and judged.

A model patch changes the code under test. Test files, the test runner's configuration and
plugins, interpreter start-up hooks and the runner itself belong to the grader: their edits
are dropped before grading (and the grader checks, after applying, that none got through).
"""

from __future__ import annotations

import sys
from pathlib import PurePosixPath

_TEST_DIRS = {"test", "tests", "testing"}

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
    "django/django": {"tests/runtests.py", "tests/test_sqlite.py"},
    "sympy/sympy": {"bin/test", "sympy/testing/runtests.py", "sympy/utilities/runtests.py",
                    "sympy/testing/pytest.py", "sympy/utilities/pytest.py"},
}
# Top-level modules that, created at the repository root (first on sys.path for `python -m` and
# `python -c`), would replace the runner or a standard module it imports.
RUNNER_MODULES = {"pytest", "_pytest", "pluggy", "py", "iniconfig", "unittest", "nose", "xdist",
                  "coverage", "_virtualenv", "distutils", "setuptools", "pkg_resources"}
_STDLIB = set(getattr(sys, "stdlib_module_names", ())) | RUNNER_MODULES
# Repositories whose own source is the runner: there `_pytest/`, `pytest.py` are code under test.
RUNNER_REPOS = {"pytest-dev/pytest": {"pytest", "_pytest", "py"}, "pytest-dev/pluggy": {"pluggy"}}


def is_test_path(path: str) -> bool:
    """Whether a repository path is test code by the usual conventions (dirs, file names)."""
    parts = PurePosixPath(path).parts
    name = parts[-1] if parts else ""
    return (
        any(p in _TEST_DIRS for p in parts[:-1])
        or name == "conftest.py"
        or (name.startswith("test_") and name.endswith(".py"))
        or name.endswith("_test.py")
        or name in ("tests.py", "runtests.py")
    )


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
    if path in RUNNER_SCRIPTS.get(repo, ()):
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
