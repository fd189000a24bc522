"""The SQLite index of an archive: one row per node, JSON columns for nested data."""

from __future__ import annotations

import gc
import json
import sqlite3
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from dgm.archive.node import Node

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS archive_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    id INTEGER PRIMARY KEY,
    commit_sha TEXT NOT NULL,
    parent_id INTEGER REFERENCES nodes(id),
    generation INTEGER NOT NULL,
    status TEXT NOT NULL,
    diagnosis TEXT,
    improvement_task TEXT,
    results TEXT NOT NULL DEFAULT '{}',
    stage_scores TEXT NOT NULL DEFAULT '{}',
    score REAL,
    tokens_in INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    wall_seconds REAL NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS nodes_parent ON nodes(parent_id);
CREATE INDEX IF NOT EXISTS nodes_status ON nodes(status);
"""

COLUMNS = (
    "id, commit_sha, parent_id, generation, status, diagnosis, improvement_task, results, "
    "stage_scores, score, tokens_in, tokens_out, cost_usd, wall_seconds, created_at, "
    "updated_at, meta"
)

# Fields update_node may change, and how each is stored.
JSON_FIELDS = {"diagnosis", "results", "stage_scores", "meta"}
PLAIN_FIELDS = {"status", "improvement_task", "score", "tokens_in", "tokens_out", "cost_usd",
                "wall_seconds"}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def connect(path: Path) -> sqlite3.Connection:
    """Open the index in WAL mode; autocommit, transactions are explicit."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode is atomic across process death; only power loss can drop the
    # last transactions, which fsck then reports.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def create_schema(conn: sqlite3.Connection, meta: dict[str, Any]) -> None:
    conn.executescript(SCHEMA)
    conn.execute(
        "INSERT OR REPLACE INTO archive_meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
    )
    conn.execute("INSERT OR REPLACE INTO archive_meta VALUES ('meta', ?)", (json.dumps(meta),))


def row_to_node(row: tuple) -> Node:
    (nid, commit, parent, gen, status, diagnosis, task, results, stages, score, tin, tout,
     cost, wall, created, updated, meta) = row
    return Node(
        id=str(nid),
        commit=commit,
        parent_id=None if parent is None else str(parent),
        generation=gen,
        status=status,
        diagnosis=json.loads(diagnosis) if diagnosis else None,
        improvement_task=task,
        results=json.loads(results),
        stage_scores=json.loads(stages),
        score=score,
        tokens_in=tin,
        tokens_out=tout,
        cost_usd=cost,
        wall_seconds=wall,
        created_at=created,
        updated_at=updated,
        meta=json.loads(meta),
    )


def insert_node(conn: sqlite3.Connection, node: Node) -> None:
    conn.execute(
        f"INSERT INTO nodes ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        node_row(node),
    )


def node_row(node: Node) -> tuple:
    return (
        int(node.id), node.commit, None if node.parent_id is None else int(node.parent_id),
        node.generation, node.status,
        None if node.diagnosis is None else json.dumps(node.diagnosis),
        node.improvement_task, json.dumps(node.results), json.dumps(node.stage_scores),
        node.score, node.tokens_in, node.tokens_out, node.cost_usd, node.wall_seconds,
        node.created_at, node.updated_at, json.dumps(node.meta),
    )


def select_nodes(conn: sqlite3.Connection, where: str = "", params: Iterable = ()) -> list[Node]:
    rows = conn.execute(f"SELECT {COLUMNS} FROM nodes {where} ORDER BY id", tuple(params))
    with gc_paused():
        return [row_to_node(r) for r in rows]


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cycle collector while building many acyclic objects (halves a 100k load)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def encode_field(name: str, value: Any) -> Any:
    return None if value is None and name == "diagnosis" else (
        json.dumps(value) if name in JSON_FIELDS else value
    )
