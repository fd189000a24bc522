"""Patches as data, for the agent ABI: one test-file rule, shared with dgm.bench's grading."""

from __future__ import annotations

from dgm.bench.patches import drop_test_changes, is_test_path, split_patch

__all__ = ["changed_files", "drop_test_changes", "is_test_path"]


def changed_files(patch: str) -> list[str]:
    """Paths a git diff touches (new side), in order."""
    out: list[str] = []
    for block in split_patch(patch):
        if block.new_path not in out:
            out.append(block.new_path)
    return out
