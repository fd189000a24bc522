"""Reading a run's artifacts as data: capped sizes, no symlinks followed, torn JSON tolerated."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Iterator

from dgm.artifacts.calls import iter_calls

MAX_TEXT_BYTES = 2_000_000


def read_text(path: Path, max_bytes: int = MAX_TEXT_BYTES) -> tuple[str, bool] | None:
    """(text, truncated) of a regular file, or None if missing, a link, or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    finally:
        os.close(fd)
    truncated = len(data) > max_bytes
    return data[:max_bytes].decode("utf-8", errors="replace"), truncated


def read_json(path: Path, max_bytes: int = MAX_TEXT_BYTES) -> Any:
    """Parsed JSON of a regular file, or None when it is missing, too big or not JSON."""
    got = read_text(path, max_bytes)
    if got is None or got[1]:
        return None
    try:
        return json.loads(got[0])
    except json.JSONDecodeError:
        return None


def read_jsonl(path: Path) -> Iterator[dict]:
    """Each usable line of a run's call log (a regular file, read under the recording's caps)."""
    yield from iter_calls(path)


def failing_tests(report: Any) -> list[str]:
    """Failed FAIL_TO_PASS and PASS_TO_PASS tests from a swebench-shaped report or tests_status."""
    if not isinstance(report, dict):
        return []
    status = report.get("tests_status")
    if status is None and len(report) == 1:
        only = next(iter(report.values()))
        if isinstance(only, dict):
            status = only.get("tests_status")
    if not isinstance(status, dict):
        return []
    failed: list[str] = []
    for group in ("FAIL_TO_PASS", "PASS_TO_PASS"):
        entry = status.get(group)
        if isinstance(entry, dict):
            failed.extend(str(t) for t in entry.get("failure") or [])
    return failed
