"""Results keyed by (agent tree hash, instance, evaluation settings): identical work is never paid twice."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    tree_hash TEXT NOT NULL, instance_id TEXT NOT NULL, settings TEXT NOT NULL,
    outcome TEXT NOT NULL, artifacts TEXT, created_at TEXT NOT NULL,
    PRIMARY KEY (tree_hash, instance_id, settings))
"""


def settings_hash(data: Any) -> str:
    """A stable hash of the evaluation settings (model, limits, image, kind of run)."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:20]


class ResultCache:
    """A small SQLite table; used from the loop thread only. `path=None` disables it."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.hits = 0
        self._conn: sqlite3.Connection | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, timeout=30)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute(SCHEMA)
            self._conn.commit()

    def get(self, tree_hash: str, instance_id: str, settings: str) -> tuple[dict, Path | None] | None:
        """(outcome data, artifacts dir) of an earlier identical evaluation, or None."""
        if self._conn is None:
            return None
        row = self._conn.execute(
            "SELECT outcome, artifacts FROM results WHERE tree_hash=? AND instance_id=? AND settings=?",
            (tree_hash, instance_id, settings)).fetchone()
        if row is None:
            return None
        self.hits += 1
        return json.loads(row[0]), (Path(row[1]) if row[1] else None)

    def put(self, tree_hash: str, instance_id: str, settings: str, outcome: dict,
            artifacts: Path | None) -> None:
        if self._conn is None:
            return
        self._conn.execute(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
            (tree_hash, instance_id, settings, json.dumps(outcome, default=str),
             str(artifacts) if artifacts else None, datetime.now(timezone.utc).isoformat(timespec="seconds")))
        self._conn.commit()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
