"""Append-only JSONL recording of model exchanges, safe across threads."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

CALLS_FILE = "llm_calls.jsonl"

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


@dataclass
class Exchange:
    """One model call as recorded: what was asked, what came back, what it cost."""

    ts: str
    role: str
    account: str
    accounts: list[str]
    model: str
    request: dict[str, Any]
    response: dict[str, Any] | None
    usage: dict[str, int]
    cost_usd: float
    latency_s: float
    attempts: int
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def append(path: Path, exchange: Exchange) -> None:
    """Append one line under a per-file lock with O_APPEND writes, so lines never interleave."""
    path = Path(path)
    data = (json.dumps(asdict(exchange), default=str, ensure_ascii=False) + "\n").encode("utf-8")
    with _lock_for(path):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)


def read(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a recording (a torn last line after a crash is skipped)."""
    return list(iter_lines(path))


def iter_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Stream a recording line by line: run recordings grow to hundreds of megabytes."""
    with Path(path).open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                yield entry


def _lock_for(path: Path) -> threading.Lock:
    key = os.path.abspath(path)  # not resolve(): no file system calls on the hot path
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())
