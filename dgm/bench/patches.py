"""Unified diffs as data: split by file, and drop a model patch's edits to test files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

# git quotes paths with unusual characters: diff --git "a/x y" "b/x y"
_HEADER = re.compile(r'^diff --git "?a/(?P<a>.+?)"? "?b/(?P<b>.+?)"?$')
_TEST_DIRS = {"test", "tests", "testing"}


@dataclass
class FilePatch:
    """The part of a diff that touches one file (old and new path as the header names them)."""

    old_path: str
    new_path: str
    text: str


def _strip_prefix(path: str) -> str:
    path = path.split("\t", 1)[0].strip()
    return path[2:] if path.startswith(("a/", "b/")) else path


def split_patch(patch: str) -> list[FilePatch]:
    """The per-file blocks of PATCH, in order: `diff --git` blocks and plain `---`/`+++` ones."""
    lines = patch.splitlines(keepends=True)
    blocks: list[FilePatch] = []
    current: list[str] = []
    paths: tuple[str, str] | None = None
    in_hunks = False  # past the header of the current block
    for i, line in enumerate(lines):
        match = _HEADER.match(line.rstrip("\n"))
        plain = (line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")
                 and (paths is None or in_hunks))
        if match or plain:
            if paths is not None:
                blocks.append(FilePatch(paths[0], paths[1], "".join(current)))
            if match:
                paths, in_hunks = (match["a"], match["b"]), False
            else:
                old, new = _strip_prefix(line[4:]), _strip_prefix(lines[i + 1][4:])
                paths = (new if old == "/dev/null" else old, old if new == "/dev/null" else new)
            current = [line]
            continue
        if paths is not None:
            if line.startswith("@@"):
                in_hunks = True
            current.append(line)
    if paths is not None:
        blocks.append(FilePatch(paths[0], paths[1], "".join(current)))
    return blocks


def patched_files(patch: str) -> list[str]:
    """Every path a patch touches (old and new names)."""
    out: list[str] = []
    for block in split_patch(patch):
        for path in (block.old_path, block.new_path):
            if path not in out:
                out.append(path)
    return out


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


def drop_test_changes(patch: str, test_patch: str = "") -> str:
    """PATCH without its edits to test files or to any file the hidden test patch touches."""
    hidden = set(patched_files(test_patch))
    blocks = split_patch(patch)
    if not blocks:
        return patch  # not a diff at all: let `git apply` say so
    kept = [
        b.text for b in blocks
        if not ({b.old_path, b.new_path} & hidden)
        and not is_test_path(b.old_path) and not is_test_path(b.new_path)
    ]
    return "".join(kept)
