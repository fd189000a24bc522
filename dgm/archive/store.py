"""Archive: the git repository and the SQLite index of one run, kept in step.

A node is written in three steps under the writer lock: git objects (content-addressed,
harmless if orphaned), then the ref refs/dgm/nodes/<id>, then the index row in one SQLite
transaction. The row is what makes a node exist; a ref without a row can only be the
residue of an add that died, and is removed when the archive is next opened.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from dgm.archive import index
from dgm.archive.gitstore import GitStore
from dgm.archive.node import Node, check_status, score_of
from dgm.archive.snapshot import check_tree, import_tree
from dgm.errors import BadInput, NotAnArchive, UnknownNode

if TYPE_CHECKING:
    import networkx

GIT_DIR = "archive.git"
INDEX_FILE = "archive.sqlite"
LOCK_FILE = "archive.lock"
ARTIFACTS_DIR = "artifacts"

UPDATABLE = index.JSON_FIELDS | index.PLAIN_FIELDS


def is_archive(path: Path) -> bool:
    return (Path(path) / INDEX_FILE).is_file() and (Path(path) / GIT_DIR).is_dir()


class Archive:
    """One run's archive of agent variants (see docs/internals.md for the contract)."""

    def __init__(self, path: Path, git: GitStore, conn: sqlite3.Connection) -> None:
        self.path = Path(path)
        self.git = git
        self.conn = conn
        # One connection serves every thread of the writer process (the evolve loop's
        # workers record results concurrently); its transactions must not interleave.
        self._lock = threading.RLock()

    # ---- opening --------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, seed_tree: Path, *, meta: dict | None = None) -> "Archive":
        """Create an archive in `path` (new or without an archive) with `seed_tree` as node 0."""
        path = Path(path)
        seed_tree = Path(seed_tree)
        if is_archive(path):
            raise BadInput(f"{path} already holds an archive", hint="choose a new directory")
        if path.exists() and not path.is_dir():
            raise BadInput(f"{path} exists and is not a directory", hint="choose a new directory")
        if not seed_tree.is_dir():
            raise BadInput(f"seed tree {seed_tree} is not a directory",
                           hint="pass --seed PATH to an agent tree")
        check_tree(seed_tree)  # before anything is made: a refused seed leaves no half archive
        path.mkdir(parents=True, exist_ok=True)
        git = GitStore.init(path / GIT_DIR)
        tree = import_tree(git, seed_tree)
        # The index file appears last and complete: until it exists, this is no archive,
        # and a create that died can simply be run again.
        tmp_index = path / (INDEX_FILE + ".creating")
        for suffix in ("", "-wal", "-shm"):
            Path(str(tmp_index) + suffix).unlink(missing_ok=True)
        conn = index.connect(tmp_index)
        stamp = index.now()
        commit = git.write_commit(tree, None, "node 0 (root)")
        git.write_ref("0", commit)
        root = Node(id="0", commit=commit, parent_id=None, generation=0, status="admitted",
                    meta={"source": str(seed_tree)}, created_at=stamp, updated_at=stamp)
        index.create_schema(conn, {**(meta or {}), "created_at": stamp})
        index.insert_node(conn, root)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode=DELETE")
        conn.close()
        os.replace(tmp_index, path / INDEX_FILE)
        (path / ARTIFACTS_DIR).mkdir(exist_ok=True)
        return cls.open(path)

    @classmethod
    def open(cls, path: Path) -> "Archive":
        """Open an existing archive; NotAnArchive if `path` is not one or its index is unreadable."""
        path = Path(path)
        if not path.is_dir():
            raise NotAnArchive(f"{path} is not a directory", hint="give an archive directory "
                               "made by `dgm archive init`")
        if not is_archive(path):
            raise NotAnArchive(f"{path} is not a dgm archive (no {INDEX_FILE} and {GIT_DIR})",
                               hint="create one with `dgm archive init DIR`")
        git = GitStore(path / GIT_DIR)
        try:
            conn = index.connect(path / INDEX_FILE)
            conn.execute("SELECT value FROM archive_meta WHERE key='schema_version'").fetchone()
            root = conn.execute("SELECT id FROM nodes WHERE id=0").fetchone()
        except sqlite3.DatabaseError as exc:
            raise NotAnArchive(f"the index {path / INDEX_FILE} is corrupted ({exc})",
                               hint=f"run `dgm archive fsck {path}`") from None
        if root is None:
            raise NotAnArchive(f"the index {path / INDEX_FILE} has no root node",
                               hint=f"run `dgm archive fsck {path}`")
        archive = cls(path, git, conn)
        archive.recover()
        return archive

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Archive":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writer lock and recovery -----------------------------------------------------
    @contextmanager
    def _writer(self, blocking: bool = True) -> Iterator[bool]:
        if not self._lock.acquire(blocking=blocking):
            yield False
            return
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)  # closing releases the lock, as does the death of the process
            self._lock.release()

    def recover(self) -> list[str]:
        """Remove refs left by adds that died before their row; return what was removed."""
        removed: list[str] = []
        with self._writer(blocking=False) as got:
            if not got:
                return removed  # a writer is mid-add; its ref is not residue
            # Ids are allocated as max + 1, so residue sits above the highest row; a ref
            # without a row below it is damage for fsck to report, not ours to delete.
            (max_id,) = self.conn.execute("SELECT max(id) FROM nodes").fetchone()
            for name in self.git.loose_ref_ids():
                if name.isdigit() and int(name) > (max_id or 0):
                    self.git.ref_path(name).unlink(missing_ok=True)
                    removed.append(name)
            self.git.clean_tmp()
        return removed

    # ---- writes -------------------------------------------------------------------------
    def add_node(self, parent_id: str, tree: Path, *, status: str = "pending",
                 diagnosis: dict | None = None, improvement_task: str | None = None,
                 meta: dict | None = None, results: dict | None = None,
                 score: float | None = None) -> Node:
        """Add the agent tree at `tree` as a child of `parent_id`: commit, ref, row, or nothing."""
        check_status(status)
        parent = self.get(parent_id)
        if parent.rejected:
            raise BadInput(f"parent node {parent_id} is {parent.status}",
                           hint="choose an admitted or pending parent")
        tree = Path(tree)
        if not tree.is_dir():
            raise BadInput(f"tree {tree} does not exist or is not a directory",
                           hint="give the path of an agent tree")
        tree_sha = import_tree(self.git, tree)
        results = dict(results or {})
        stamp = index.now()
        with self._writer():
            (max_id,) = self.conn.execute("SELECT max(id) FROM nodes").fetchone()
            node_id = str(max_id + 1)
            commit = self.git.write_commit(tree_sha, parent.commit,
                                           f"node {node_id}\n\nparent: {parent_id}")
            node = Node(
                id=node_id, commit=commit, parent_id=parent.id, generation=parent.generation + 1,
                status=status, diagnosis=diagnosis, improvement_task=improvement_task,
                results=results, score=score_of(results) if results else score,
                created_at=stamp, updated_at=stamp, meta=dict(meta or {}),
            )
            self.git.write_ref(node_id, commit)
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                index.insert_node(self.conn, node)
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                self.git.ref_path(node_id).unlink(missing_ok=True)
                raise
        return node

    def update_node(self, node_id: str, **fields: Any) -> Node:
        """Change record fields (status, results, stage_scores, costs, ...); score follows results."""
        unknown = set(fields) - UPDATABLE
        if unknown:
            raise BadInput(f"cannot update node field(s) {sorted(unknown)}",
                           hint=f"updatable: {', '.join(sorted(UPDATABLE))}")
        if "status" in fields:
            check_status(fields["status"])
        if "results" in fields and "score" not in fields and fields["results"]:
            fields["score"] = score_of(fields["results"])
        fields["updated_at"] = index.now()
        sets = ", ".join(f"{name}=?" for name in fields)
        values = [index.encode_field(n, v) for n, v in fields.items()]
        with self._transaction():
            cur = self.conn.execute(f"UPDATE nodes SET {sets} WHERE id=?",
                                    (*values, self._int_id(node_id)))
            if cur.rowcount == 0:
                raise UnknownNode(f"unknown node {node_id!r}",
                                  hint=f"list nodes with `dgm archive list {self.path}`")
        return self.get(node_id)

    def record_result(self, node_id: str, instance_id: str, result: dict) -> None:
        """Store one task result of a node and refresh its score."""
        with self._transaction():
            row = self.conn.execute("SELECT results FROM nodes WHERE id=?",
                                    (self._int_id(node_id),)).fetchone()
            if row is None:
                raise UnknownNode(f"unknown node {node_id!r}",
                                  hint=f"list nodes with `dgm archive list {self.path}`")
            results = json.loads(row[0])
            results[instance_id] = result
            self.conn.execute(
                "UPDATE nodes SET results=?, score=?, updated_at=? WHERE id=?",
                (json.dumps(results), score_of(results), index.now(), int(node_id)),
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # ---- reads ----------------------------------------------------------------------------
    def _int_id(self, node_id: str) -> int:
        text = str(node_id)
        if not text.isdigit():
            raise UnknownNode(f"unknown node {node_id!r}",
                              hint=f"node ids are 0, 1, 2, ...; see `dgm archive list {self.path}`")
        return int(text)

    def get(self, node_id: str) -> Node:
        with self._lock:
            nodes = index.select_nodes(self.conn, "WHERE id=?", (self._int_id(node_id),))
        if not nodes:
            raise UnknownNode(f"unknown node {node_id!r} in {self.path}",
                              hint=f"list nodes with `dgm archive list {self.path}`")
        return nodes[0]

    def nodes(self, status: str | None = None) -> list[Node]:
        """All nodes in id order; `status` filters ("rejected" matches every rejected:<reason>)."""
        with self._lock:
            if status is None:
                return index.select_nodes(self.conn)
            if status == "rejected":
                return index.select_nodes(self.conn, "WHERE status LIKE 'rejected:%'")
            return index.select_nodes(self.conn, "WHERE status=?", (status,))

    def children(self, node_id: str) -> list[Node]:
        self.get(node_id)
        with self._lock:
            return index.select_nodes(self.conn, "WHERE parent_id=?", (int(node_id),))

    def children_counts(self) -> dict[str, int]:
        """node id -> number of its children (every status), for every node."""
        with self._lock:
            counts = {str(r[0]): 0 for r in self.conn.execute("SELECT id FROM nodes")}
            for parent, n in self.conn.execute(
                "SELECT parent_id, count(*) FROM nodes WHERE parent_id IS NOT NULL GROUP BY parent_id"
            ):
                counts[str(parent)] = n
        return counts

    def __len__(self) -> int:
        with self._lock:
            return self.conn.execute("SELECT count(*) FROM nodes").fetchone()[0]

    def checkout(self, node_id: str, dest: Path) -> Path:
        """Write the node's agent tree into `dest` (new or empty directory)."""
        return self.git.checkout(self.get(node_id).commit, Path(dest))

    def tree_hash(self, node_id: str) -> str:
        return self.git.tree_of(self.get(node_id).commit)

    def diff(self, a: str, b: str) -> str:
        """Unified diff from node `a`'s tree to node `b`'s tree."""
        return self.git.diff(self.get(a).commit, self.get(b).commit)

    def graph(self) -> "networkx.DiGraph":
        from dgm.archive.lineage import build_graph

        return build_graph(self.nodes())

    def artifacts_dir(self, node_id: str) -> Path:
        self.get(node_id)
        path = self.path / ARTIFACTS_DIR / str(node_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def meta(self) -> dict:
        with self._lock:
            row = self.conn.execute("SELECT value FROM archive_meta WHERE key='meta'").fetchone()
        return json.loads(row[0]) if row else {}

    def __repr__(self) -> str:
        return f"Archive({str(self.path)!r})"
