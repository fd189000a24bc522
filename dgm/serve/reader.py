"""A run read and never written: the archive's index opened read-only, git read through the pinned
helper, artifacts through the bounded readers. Safe beside a live `dgm evolve`, the single writer."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dgm.archive import index
from dgm.archive.gitstore import GitStore
from dgm.archive.node import Node
from dgm.archive.store import GIT_DIR, INDEX_FILE, is_archive
from dgm.artifacts.bounded import ArtifactInvalid, JsonLimits, parse_bounded
from dgm.artifacts.files import read_regular
from dgm.errors import NotAnArchive, UnknownNode
from dgm.evolve.progress import PROGRESS_FILE
from dgm.report.panels import e
from dgm.report.model import MAX_DIFF_CHARS, NodeView, RunView, collect, node_view
from dgm.serve import tree

PROGRESS_LIMITS = JsonLimits(max_bytes=1_000_000, max_values=20_000, max_depth=8)
CALLS_FILE = "llm_calls.jsonl"
PATH_DIFFS = 200  # steps of the path to the best whose diffs are read for the path table
ANALYSIS_TIMEOUT = 3600  # seconds an analysis of the instruments may take
ANALYSIS_CAP = 256_000_000  # bytes of its JSON read
ANALYSIS_PAUSE = 2.0  # seconds at least between two analyses
DELTAS_KEPT = 64  # tree changes kept for pages that are a few changes behind (older ones reload the tree)


def _mtime(path: Path) -> tuple[int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


class ReadOnlyArchive:
    """The reading half of dgm.archive.Archive over a read-only connection: nodes, get, diff, path.

    Archive.open would recover (write) a half-added node; a viewer must never touch the writer's files."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not is_archive(self.path):
            raise NotAnArchive(f"{self.path} is not a dgm run (no {INDEX_FILE} and {GIT_DIR})",
                               hint="give the run directory of `dgm evolve` (its run.dir)")
        self.git = GitStore(self.path / GIT_DIR)
        self._uri = (self.path / INDEX_FILE).resolve().as_uri() + "?mode=ro"
        self._local = threading.local()
        self._rows: dict[str, Node] = {}
        self._since: str | None = None
        self._rows_lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # One connection a thread; mode=ro: SQLite itself refuses any write through it.
            conn = sqlite3.connect(self._uri, uri=True, timeout=10, isolation_level=None)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
        return conn

    def nodes(self) -> list[Node]:
        """Every node, in id order. Only rows written since the last call are read and parsed again:
        every write stamps updated_at, and nodes are never deleted."""
        with self._rows_lock:
            if self._since is None:
                fresh = index.select_nodes(self._conn())
            else:  # >=: a write in the same millisecond as the last one read is read again, not missed
                fresh = index.select_nodes(self._conn(), "WHERE updated_at >= ?", (self._since,))
            for node in fresh:
                self._rows[node.id] = node
                if self._since is None or node.updated_at > self._since:
                    self._since = node.updated_at
            return [self._rows[k] for k in sorted(self._rows, key=int)]

    def get(self, node_id: str) -> Node:
        text = str(node_id)
        found = index.select_nodes(self._conn(), "WHERE id=?", (int(text),)) if text.isdigit() else []
        if not found:
            raise UnknownNode(f"unknown node {node_id!r} in {self.path}")
        return found[0]

    def diff(self, a: str, b: str) -> str:
        return self.git.diff(self.get(a).commit, self.get(b).commit)

    def tree_hash(self, node_id: str) -> str:
        return self.git.tree_of(self.get(node_id).commit)

    def token(self) -> str:
        """Changes whenever a node is added or updated (the loop stamps updated_at on every write)."""
        count, last = self._conn().execute("SELECT count(*), max(updated_at) FROM nodes").fetchone()
        return f"{count}:{last}:{_mtime(self.path / CALLS_FILE)[1]}"


@dataclass
class Snapshot:
    """The run as of one archive token: the report's view without diffs (they are read per node)."""

    token: str
    view: RunView
    records: dict[str, tree.Record] = field(default_factory=dict)  # the tree, one record a node
    width: int = 0
    height: int = 0
    parts: dict[str, str] | None = None   # the page's pieces for this view, rendered once for every page
    tree_json: bytes | None = None        # the whole tree as the page loads it, serialised once


class RunReader:
    """What the server shows, read on demand and cached per archive token."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.archive = ReadOnlyArchive(self.run_dir)
        self.archive.token()  # fail now, with the path, if the index cannot be read
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._diffs: dict[tuple[str, str], str] = {}  # (parent, node) -> diff: a node's commit never changes
        self._deltas: deque[tuple[str, str, bytes]] = deque(maxlen=DELTAS_KEPT)  # (from, to, JSON)
        self._verify_lock = threading.Lock()
        self._verify: tuple[str, int, str] | None = None   # (archive token, nodes, HTML) of the last analysis
        self._verify_busy = False
        self._verify_next = 0.0   # monotonic time before which no new analysis starts

    def token(self) -> str:
        return self.archive.token()

    def progress_token(self) -> str:
        return "%d:%d" % _mtime(self.run_dir / PROGRESS_FILE)

    def snapshot(self) -> Snapshot:
        """The current view; rebuilt only when the archive changed since the last one."""
        with self._lock:
            token = self.archive.token()
            if self._snapshot is None or self._snapshot.token != token:
                old = self._snapshot
                self._snapshot = None
                view = collect(self.archive, with_diffs=False, with_tasks=False)
                view.link_prefix = "files/"
                by_id = view.by_id()
                diffs = {}
                for node_id in view.best_path[-PATH_DIFFS:]:  # the path table counts each step's lines
                    nv = by_id[node_id]
                    if nv.node.parent_id is not None:
                        key = (nv.node.parent_id, node_id)
                        diffs[key] = self._diffs.get(key) or self.archive.diff(*key)[:MAX_DIFF_CHARS]
                        nv.diff = diffs[key]
                self._diffs = diffs  # those of the current path only
                recs, width, height = tree.records(view)
                if old is not None:
                    change = tree.delta(old.records, recs, width, height)
                    self._deltas.append((old.token, token, json.dumps(
                        {"from": old.token, "token": token, **change}, separators=(",", ":")).encode()))
                del old  # let the old view go before the pieces of the new one are rendered
                self._snapshot = Snapshot(token, view, recs, width, height)
            return self._snapshot

    def deltas_since(self, token: str) -> list[tuple[str, bytes]] | None:
        """The tree changes (new token, JSON) from `token` to the current snapshot, oldest first; None
        when they are no longer kept (the page then reloads the whole tree)."""
        current = self.snapshot().token
        with self._lock:
            chain: list[tuple[str, bytes]] = []
            at = token
            for frm, to, data in self._deltas:
                if frm == at:
                    chain.append((to, data))
                    at = to
            return chain if at == current else None

    def tree_json(self) -> tuple[str, bytes]:
        """The whole tree of the current snapshot as the page draws it, serialised once per change."""
        snap = self.snapshot()
        if snap.tree_json is None:
            snap.tree_json = json.dumps({"token": snap.token, **tree.full(snap.records, snap.width, snap.height)},
                                        separators=(",", ":")).encode()
        return snap.token, snap.tree_json

    # ---- the verification instruments (dgm.science.analyze), computed off the request threads ----
    def verification(self) -> tuple[str | None, int, str | None, bool]:
        """(archive token analysed, its node count, the section's HTML, a newer analysis under way).
        Starts an analysis in the background when the archive moved since the last one, and at most
        half the time: after an analysis of t seconds the next waits t seconds (a 10,000-node run takes
        minutes; a live run changes every few seconds)."""
        token = self.token()
        with self._verify_lock:
            done = self._verify
            stale = done is None or done[0] != token
            if stale and not self._verify_busy and time.monotonic() >= self._verify_next:
                self._verify_busy = True
                threading.Thread(target=self._analyse, args=(token,), name="verification", daemon=True).start()
            busy = self._verify_busy
        return (done[0], done[1], done[2], busy) if done else (None, 0, None, busy)

    def verify_token(self) -> str:
        done = self._verify
        return done[0] if done else ""

    def _analyse(self, token: str) -> None:
        from dgm.report.verification import verification_html

        t0 = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-m", "dgm.serve.analyse", str(self.run_dir)],
                                  capture_output=True, timeout=ANALYSIS_TIMEOUT, check=False,
                                  env={**os.environ, "DGM_SERVE_PARENT": str(os.getpid())})
            if done.returncode != 0:
                last = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
                raise RuntimeError(f"exit {done.returncode}: {last[0][:500]}")
            data = json.loads(done.stdout[:ANALYSIS_CAP])
            html = verification_html(data)
            note = (f'<p class="muted">As of {int(data["nodes"]):,} node(s); computed in '
                    f"{time.monotonic() - t0:.1f} s.</p>")
            result = (token, int(data["nodes"]), _append(html, note))
        except Exception as exc:  # noqa: BLE001 - shown in the panel; the tree keeps working
            result = (token, 0, f'<section id="verification"><h2>Verification</h2><p class="bad">The instruments '
                                f"could not be computed: {e(type(exc).__name__)}: {e(exc)}</p></section>")
        with self._verify_lock:
            self._verify = result
            self._verify_busy = False
            self._verify_next = time.monotonic() + max(ANALYSIS_PAUSE, time.monotonic() - t0)

    def node_view(self, node_id: str) -> tuple[RunView, NodeView]:
        """The current view and one node of it in full (diff, tasks, artifact files); UnknownNode if absent."""
        view = self.snapshot().view
        light = view.by_id().get(check_node_id(node_id))
        if light is None:
            raise UnknownNode(f"unknown node {node_id!r}")
        return view, node_view(self.archive, light.node, light.iteration)

    def progress(self) -> dict | None:
        """The loop's last progress snapshot (RUN/progress.json), or None when there is none usable."""
        try:
            value = parse_bounded(read_regular(self.run_dir / PROGRESS_FILE, PROGRESS_LIMITS.max_bytes),
                                  PROGRESS_LIMITS)
        except (OSError, ArtifactInvalid, json.JSONDecodeError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def artifact(self, rel: str, max_bytes: int) -> bytes:
        """A file under RUN/artifacts by its relative path; FileNotFoundError or ArtifactInvalid."""
        path = (self.run_dir / rel)
        root = (self.run_dir / "artifacts").resolve()
        if root not in path.resolve().parents:
            raise ArtifactInvalid("is outside the run's artifacts")
        return read_regular(path, max_bytes, head=True)


def _append(section: str, html: str) -> str:
    """`html` added at the end of a <section>…</section>."""
    end = "</section>"
    return section[:-len(end)] + html + end if section.endswith(end) else section + html


def check_node_id(node_id: Any) -> str:
    text = str(node_id)
    if not text.isdigit():
        raise UnknownNode(f"unknown node {node_id!r}")
    return text
