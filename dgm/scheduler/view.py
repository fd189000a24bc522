"""What a policy sees: an in-memory mirror of the tree the scheduler keeps in step with the archive.

The nodes are dgm.archive Node records (commit left empty), so dgm.selection's strategies read
them unchanged, without a query per decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from dgm.archive.node import Node
from dgm.scheduler.states import ChildState, Phase


@dataclass
class TreeView:
    tasks: tuple[str, ...]                              # the pool an open node is evaluated on
    nodes: dict[str, Node] = field(default_factory=dict)
    states: dict[str, ChildState] = field(default_factory=dict)   # by key
    key_of: dict[str, str] = field(default_factory=dict)          # node id -> key
    asked: dict[str, set] = field(default_factory=dict)           # node id -> instance ids asked so far
    children: dict[str, int] = field(default_factory=dict)        # node id -> children of every status
    evals: int = 0            # task evaluations asked (smoke runs included)
    evals_done: int = 0
    expansions: int = 0       # children started
    slots: int = 1
    succ: dict[str, int] = field(default_factory=dict)             # node id -> resolved results
    fail: dict[str, int] = field(default_factory=dict)             # node id -> unresolved results
    rejected: int = 0
    started: dict[str, int] = field(default_factory=dict)          # parent id -> children started
    # Columns by node index, for decisions over thousands of nodes in one numpy pass.
    ids: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    col_s: np.ndarray = field(default_factory=lambda: np.zeros(1024))
    col_f: np.ndarray = field(default_factory=lambda: np.zeros(1024))
    col_asked: np.ndarray = field(default_factory=lambda: np.zeros(1024))
    col_open: np.ndarray = field(default_factory=lambda: np.zeros(1024, dtype=bool))
    col_parent: np.ndarray = field(default_factory=lambda: np.full(1024, -1, dtype=np.int64))
    _open: dict[str, None] = field(default_factory=dict)
    _active: dict[str, None] = field(default_factory=dict)        # keys of children not yet decided

    # ---- writes (the scheduler's) ------------------------------------------------------------------
    def add_node(self, node: Node) -> None:
        node = replace(node, results=dict(node.results), meta={})   # the mirror's own copy
        self.nodes[node.id] = node
        i = len(self.ids)
        if i >= len(self.col_s):
            self._grow()
        self.ids.append(node.id)
        self.index[node.id] = i
        self.col_parent[i] = self.index.get(node.parent_id, -1) if node.parent_id is not None else -1
        s = sum(1 for r in node.results.values() if r.get("resolved"))
        self.succ[node.id], self.fail[node.id] = s, len(node.results) - s
        self.col_s[i], self.col_f[i] = s, len(node.results) - s
        self.asked.setdefault(node.id, set(node.results))
        self.col_asked[i] = len(self.asked[node.id])
        self.rejected += node.status.startswith("rejected:")
        self.children.setdefault(node.id, 0)
        if node.parent_id is not None:
            self.children[node.parent_id] = self.children.get(node.parent_id, 0) + 1

    def put_state(self, state: ChildState) -> None:
        self.states[state.key] = state
        if state.node_id is not None:
            self.key_of[state.node_id] = state.key
            if state.phase is Phase.OPEN:
                self._open[state.node_id] = None
            else:
                self._open.pop(state.node_id, None)
            i = self.index.get(state.node_id)
            if i is not None:
                self.col_open[i] = state.phase is Phase.OPEN
        if state.done or state.phase is Phase.OPEN:
            self._active.pop(state.key, None)
        else:
            self._active[state.key] = None

    def set_status(self, node_id: str, status: str) -> None:
        node = self.nodes[node_id]
        self.rejected += status.startswith("rejected:") - node.status.startswith("rejected:")
        node.status = status

    def record(self, node_id: str, instance_id: str, resolved: bool) -> None:
        node = self.nodes[node_id]
        old = node.results.get(instance_id)
        if old is not None:
            self.succ[node_id] -= bool(old["resolved"])
            self.fail[node_id] -= not old["resolved"]
        node.results[instance_id] = {"resolved": bool(resolved)}
        self.succ[node_id] += bool(resolved)
        self.fail[node_id] += not resolved
        i = self.index[node_id]
        self.col_s[i], self.col_f[i] = self.succ[node_id], self.fail[node_id]
        node.score = self.succ[node_id] / len(node.results)

    def ask(self, node_id: str, instance_id: str) -> None:
        asked = self.asked.setdefault(node_id, set())
        if instance_id not in asked:
            asked.add(instance_id)
            i = self.index.get(node_id)
            if i is not None:
                self.col_asked[i] = len(asked)

    def _grow(self) -> None:
        n = 2 * len(self.col_s)
        for name in ("col_s", "col_f", "col_asked", "col_open", "col_parent"):
            old = getattr(self, name)
            new = np.full(n, -1, dtype=old.dtype) if name == "col_parent" else np.zeros(n, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)

    def probe_candidates(self) -> np.ndarray:
        """Indices of open nodes with a task not yet asked."""
        n = len(self.ids)
        return np.flatnonzero(self.col_open[:n] & (self.col_asked[:n] < len(self.tasks)))

    # ---- reads (the policies') ----------------------------------------------------------------------
    def open_nodes(self) -> list[str]:
        """Admitted nodes the policy evaluates task by task (open plan)."""
        return list(self._open)

    def active(self) -> int:
        """Children under way: started, not decided, not yet open (the root's staged evaluation included)."""
        return len(self._active)

    def unasked(self, node_id: str) -> list[str]:
        asked = self.asked.get(node_id, ())
        return [t for t in self.tasks if t not in asked]

    def counts(self, node_id: str) -> tuple[int, int]:
        """(resolved, unresolved) of the node's own graded results."""
        return self.succ[node_id], self.fail[node_id]

    def unborn(self) -> int:
        """Children under way that have no node yet."""
        return sum(1 for k in self._active if self.states[k].node_id is None)

    def node_list(self) -> list[Node]:
        return list(self.nodes.values())
