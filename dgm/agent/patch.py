"""Patches as data: split a git diff by file and drop the files that look like tests."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

TEST_DIRS = {"test", "tests", "testing"}
_HEADER = re.compile(r'^diff --git (?:"?a/)(.*?)"? (?:"?b/)(.*?)"?$')


def is_test_path(path: str) -> bool:
    """True for files graders own: tests/ (test/, testing/) dirs, test_*.py, *_test.py, conftest.py,
    tests.py, runtests.py (the same rule as dgm.bench's grading)."""
    parts = PurePosixPath(path).parts
    if not parts:
        return False
    name = parts[-1]
    return (any(p in TEST_DIRS for p in parts[:-1]) or name in ("conftest.py", "tests.py", "runtests.py")
            or (name.startswith("test_") and name.endswith(".py")) or name.endswith("_test.py"))


def split_files(patch: str) -> list[tuple[list[str], str]]:
    """The per-file sections of a git diff as (paths, text); text before the first header is kept as ([], text)."""
    sections: list[tuple[list[str], str]] = []
    current: list[str] = []
    paths: list[str] = []
    in_hunks = False  # "--- "/"+++ " inside hunks are content, not file names
    for line in patch.splitlines(keepends=True):
        if line.startswith("diff --git "):
            if current:
                sections.append((paths, "".join(current)))
            current, paths, in_hunks = [line], _header_paths(line), False
            continue
        in_hunks = in_hunks or line.startswith("@@")
        if current and not in_hunks and (line.startswith("--- ") or line.startswith("+++ ")):
            path = line[4:].rstrip("\n").strip('"')
            if path != "/dev/null" and path[:2] in ("a/", "b/"):
                paths.append(path[2:])
        current.append(line)
    if current:
        sections.append((paths, "".join(current)))
    return sections


def _header_paths(line: str) -> list[str]:
    match = _HEADER.match(line.rstrip("\n"))
    return [match.group(1), match.group(2)] if match else []


def drop_test_changes(patch: str) -> str:
    """The patch without the sections of files that look like tests (either side of a rename)."""
    kept = [text for paths, text in split_files(patch) if not any(is_test_path(p) for p in paths)]
    return "".join(kept)


def changed_files(patch: str) -> list[str]:
    """Paths a git diff touches (new side), in order."""
    out: list[str] = []
    for paths, _ in split_files(patch):
        if paths and paths[-1] not in out:
            out.append(paths[-1])
    return out
