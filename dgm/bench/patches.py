"""Unified diffs as data: split by file, and drop a model patch's edits to protected files.

Every path is read the way git applies the patch (dgm.diffs.parse_diff, strict), and what
grading applies is the canonical text of the blocks it kept (render_diff), so the patch
that is graded is exactly the one that was read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dgm.bench.protected import is_test_path, protected_reason
from dgm.diffs import DiffRefused, FileDiff, parse_diff, render_diff

__all__ = ["DiffRefused", "FilePatch", "Screened", "drop_test_changes", "is_test_path", "patched_files",
           "screen_patch", "split_patch"]

SYMLINK = "120000"
GITLINK = "160000"


@dataclass
class FilePatch:
    """The part of a diff that touches one file (old and new path, the other when one is /dev/null)."""

    old_path: str
    new_path: str
    text: str


@dataclass
class Screened:
    """A model patch after screening: the canonical text to apply and what was dropped, and why."""

    text: str  # canonical diff of the kept blocks ("" when nothing is left)
    paths: list[str]  # every path the kept blocks touch, as git applies them
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    refused: str | None = None  # the patch could not be read unambiguously: nothing is applied


def split_patch(patch: str) -> list[FilePatch]:
    """The per-file blocks of PATCH in order (DiffRefused if it cannot be read unambiguously)."""
    return [FilePatch(f.old_path or f.new_path or "", f.new_path or f.old_path or "", f.text)
            for f in parse_diff(patch)]


def _paths(files: list[FileDiff]) -> list[str]:
    out: list[str] = []
    for f in files:
        for path in f.paths:
            if path not in out:
                out.append(path)
    return out


def patched_files(patch: str) -> list[str]:
    """Every path a patch touches (old and new names), as git applies it."""
    return _paths(parse_diff(patch))


def _block_reason(f: FileDiff, repo: str, hidden: frozenset[str]) -> str | None:
    if SYMLINK in (f.old_mode, f.new_mode) or GITLINK in (f.old_mode, f.new_mode):
        return "a symbolic link or submodule (git and patch would write through it)"
    for path in f.paths:
        reason = protected_reason(path, repo, hidden, created=f.old_path is None or path != f.old_path)
        if reason:
            return reason
    return None


def screen_patch(patch: str, test_patch: str = "", repo: str = "") -> Screened:
    """PATCH minus its blocks that touch test files, hidden-test files or the test runner."""
    try:
        hidden = frozenset(patched_files(test_patch)) if test_patch.strip() else frozenset()
    except DiffRefused:
        hidden = frozenset()
    try:
        files = parse_diff(patch)
    except DiffRefused as exc:
        return Screened("", [], refused=str(exc))
    if not files and patch.strip():
        return Screened("", [], refused="no file blocks: the text is not a diff")
    kept: list[FileDiff] = []
    dropped: list[tuple[str, str]] = []
    for f in files:
        reason = _block_reason(f, repo, hidden)
        if reason:
            dropped.append((f.new_path or f.old_path or "", reason))
        else:
            kept.append(f)
    return Screened(render_diff(kept) if kept else "", _paths(kept), dropped)


def drop_test_changes(patch: str, test_patch: str = "", repo: str = "") -> str:
    """PATCH (canonical) without its edits to test files, runner files or files the test patch touches.

    A patch that cannot be read unambiguously comes back as it was, for `git apply` to refuse;
    grading itself never applies such a patch (see screen_patch).
    """
    screened = screen_patch(patch, test_patch, repo)
    return patch if screened.refused else screened.text
