"""Child states persisted as rows of a small SQLite table: written after every transition, read on resume."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from dgm.scheduler.states import ChildState

SCHEMA = """
CREATE TABLE IF NOT EXISTS child_states (
    key TEXT PRIMARY KEY, state TEXT NOT NULL, done INTEGER NOT NULL, seq INTEGER NOT NULL)
"""


class StateStore:
    """One row per child, keyed by its slot key; `save` commits before the scheduler acts on the state."""

    def __init__(self, path: Path | str, *, durable: bool = True) -> None:
        self.path = path
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # A simulation may trade durability for speed; a real run keeps the default (a crash loses nothing).
        self._conn.execute(f"PRAGMA synchronous={'NORMAL' if durable else 'OFF'}")
        self._conn.execute(SCHEMA)
        (self._seq,) = self._conn.execute("SELECT coalesce(max(seq), 0) FROM child_states").fetchone()

    def save(self, state: ChildState) -> None:
        self._seq += 1
        self._conn.execute("INSERT OR REPLACE INTO child_states VALUES (?, ?, ?, ?)",
                           (state.key, json.dumps(state.to_json()), int(state.done), self._seq))

    def load(self) -> list[ChildState]:
        """Every persisted state, in the order the children were first saved."""
        rows = self._conn.execute("SELECT state FROM child_states ORDER BY rowid").fetchall()
        return [ChildState.from_json(json.loads(r[0])) for r in rows]

    def close(self) -> None:
        self._conn.close()
