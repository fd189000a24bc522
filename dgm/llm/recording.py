"""Append-only JSONL recording of model exchanges, safe across threads, with a byte quota per sandbox.

A run's llm_calls.jsonl holds every call once. A call that is also recorded in a sandbox's own file
(the relay's per-token record_path) keeps its request body there only; the run's line names that file.
Before a call is forwarded, a reservation line goes to the journal beside the recording
(llm_calls.reservations.jsonl): a resumed run counts calls that never settled at their reservation.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Iterator

CALLS_FILE = "llm_calls.jsonl"
JOURNAL_SUFFIX = ".reservations.jsonl"

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
    call_id: str | None = None


class RecordQuota:
    """Bytes one token may still make the host record; past `soft` bodies are omitted, past `hard` calls refused."""

    def __init__(self, soft: int, hard: int | None = None) -> None:
        self.soft = soft
        self.hard = hard if hard is not None else soft + soft // 4  # room for the summaries of later calls
        self.used = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.used += n

    def bodies_fit(self, n: int) -> bool:
        with self._lock:
            return self.used + n <= self.soft

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return self.used >= self.hard


def journal_path(path: Path) -> Path:
    """The reservation journal that goes with a recording: llm_calls.jsonl -> llm_calls.reservations.jsonl."""
    path = Path(path)
    stem = path.name[:-len(".jsonl")] if path.name.endswith(".jsonl") else path.name
    return path.with_name(stem + JOURNAL_SUFFIX)


def append(path: Path, exchange: Exchange) -> int:
    """Append one exchange as one line; returns the bytes written."""
    return write_chunks(path, encode(exchange))


def encode(exchange: Exchange) -> list[bytes]:
    """The exchange's JSON line in pieces: each message is serialised alone, so the largest transient
    copy is one message, not the whole conversation a second and third time."""
    head = {f.name: getattr(exchange, f.name) for f in fields(exchange)}  # shallow: asdict would deep-copy
    request = head.pop("request")
    messages = request.get("messages") if isinstance(request, dict) else None
    if not isinstance(messages, list):
        return [_dumps({**head, "request": request}) + b"\n"]
    rest = {k: v for k, v in request.items() if k != "messages"}
    chunks = [_dumps(head)[:-1] + b', "request": {"messages": [']
    for i, message in enumerate(messages):
        chunks.append((b", " if i else b"") + _dumps(message))
    chunks.append(b"]" + (b", " + _dumps(rest)[1:] if rest else b"}") + b"}\n")
    return chunks


def append_json(path: Path, entry: dict[str, Any]) -> int:
    return write_chunks(path, [_dumps(entry) + b"\n"])


def write_chunks(path: Path, chunks: Iterable[bytes]) -> int:
    """Append under a per-file lock with O_APPEND writes, so lines never interleave."""
    path = Path(path)
    written = 0
    with _lock_for(path):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            for data in chunks:
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    written += n
                    view = view[n:]
        finally:
            os.close(fd)
    return written


def read(path: Path) -> list[dict[str, Any]]:
    """Every complete line of a recording (a torn last line after a crash is skipped)."""
    return list(iter_lines(path))


def iter_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Stream a recording line by line: run recordings grow to hundreds of megabytes."""
    with Path(path).open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                continue
            if isinstance(entry, dict):
                yield entry


def _dumps(value: Any) -> bytes:
    # a lone surrogate (valid in JSON text, not in UTF-8) becomes its own \uXXXX escape again
    return json.dumps(value, default=str, ensure_ascii=False).encode("utf-8", "backslashreplace")


def _lock_for(path: Path) -> threading.Lock:
    key = os.path.abspath(path)  # not resolve(): no file system calls on the hot path
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())
