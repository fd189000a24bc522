"""Append-only JSONL recording of model exchanges, safe across threads."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CALLS_FILE = "llm_calls.jsonl"

_locks: dict[Path, threading.Lock] = {}
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
    """Append one line under a per-file lock, in a single write, so lines never interleave."""
    path = Path(path)
    line = json.dumps(asdict(exchange), default=str, ensure_ascii=False) + "\n"
    with _lock_for(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(line)


def read(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a recording (a torn last line after a crash is skipped)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _lock_for(path: Path) -> threading.Lock:
    key = path.resolve()
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())
