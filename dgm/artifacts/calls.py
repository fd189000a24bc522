"""A model-call recording (llm_calls.jsonl) read back as data: the requests in it are what an agent
sent, so every line is parsed under caps and any line that breaks them is skipped."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Iterator

from dgm.artifacts.bounded import ArtifactInvalid, JsonLimits, parse_bounded

# The relay refuses request bodies over 10 MB; a line holds one request and its response.
LINE_LIMITS = JsonLimits(max_bytes=24_000_000, max_values=1_000_000, max_depth=64)


def parse_call_line(line: bytes) -> dict | None:
    """One recorded exchange, or None for a torn, foreign or oversized line."""
    try:
        value = parse_bounded(line, LINE_LIMITS)
    except ArtifactInvalid:
        return None
    return value if isinstance(value, dict) else None


def iter_calls(path: Path) -> Iterator[dict]:
    """Each usable line of a recording that is a regular file, streamed one line at a time."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return
        while True:
            line = fh.readline(LINE_LIMITS.max_bytes + 1)
            if not line:
                return
            if len(line) > LINE_LIMITS.max_bytes and not line.endswith(b"\n"):
                while (rest := fh.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of an oversized line without holding it
                continue
            entry = parse_call_line(line)
            if entry is not None:
                yield entry


def accounts_of(entry: dict) -> list[Any]:
    """The ledger accounts an exchange was charged to (the relay writes a list; older lines one name)."""
    accounts = entry.get("accounts")
    return accounts if isinstance(accounts, list) and accounts else [entry.get("account")]
