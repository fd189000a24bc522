"""`sequential`: evaluate a child only while it may still beat its parent; spend the rest on children.

Every node is evaluated on one shared task order, so a child and its parent are compared on the
same tasks: only the tasks where they disagree carry information (paired sign test). After each
result the posterior probability that the child beats its parent, P(θ > 1/2) with
θ ~ Beta(1 + wins, 1 + losses) over the disagreements, is checked: below δ the child is closed
("below gate"), otherwise it keeps its place until it has `confirm` results. Most children of a
self-modifying agent are no better than their parent, so they are dropped after a handful of
tasks instead of 10 or 50, and the evaluations saved go to more children and to confirming the
few that are better. See docs/scheduler.md for the parameters and the measurements.
"""

from __future__ import annotations

import random
from statistics import NormalDist

import numpy as np

from dgm.scheduler.policies import Expand, Probe, Proposal, beta_quantile, scored_admitted
from dgm.scheduler.states import ChildState, Close, EvalPlan
from dgm.scheduler.verdicts import Verdict
from dgm.scheduler.view import TreeView
from dgm.selection import Selector

_PHI = NormalDist()


class SequentialPolicy:
    name = "sequential"

    def __init__(self, selector: Selector, plan: EvalPlan, *, delta: float = 0.2, min_tasks: int = 4,
                 confirm: int = 30, root_tasks: int = 50, per_node_inflight: int = 2, epsilon: float = 0.1,
                 pick_min: int = 10, seed: int = 0) -> None:
        if not 0.0 < delta < 1.0:
            raise TypeError(f"delta={delta} must lie in (0, 1)")
        self.selector = selector
        self.plan = EvalPlan(smoke=plan.smoke, gate=plan.gate, open=True)
        self.delta, self.min_tasks, self.confirm, self.root_tasks = delta, min_tasks, confirm, root_tasks
        self.per_node_inflight, self.epsilon, self.pick_min = per_node_inflight, epsilon, pick_min
        self.rng = random.Random(seed)
        self._order: list[str] | None = None

    # ---- the shared task order --------------------------------------------------------------------------
    def order(self, view: TreeView) -> list[str]:
        if self._order is None:
            self._order = list(view.tasks)
            random.Random(0).shuffle(self._order)   # fixed across nodes: comparisons are paired
        return self._order

    def target(self, view: TreeView, node_id: str) -> int:
        return self.root_tasks if view.nodes[node_id].parent_id is None else self.confirm

    # ---- the test -----------------------------------------------------------------------------------------
    def p_better(self, view: TreeView, node_id: str) -> float:
        """P(child beats its parent) from the tasks both have answered (sign test, Beta(1, 1) prior)."""
        node = view.nodes[node_id]
        parent = view.nodes.get(node.parent_id or "")
        if parent is None:
            return 1.0
        mine, theirs = node.results, parent.results
        wins = losses = 0
        for iid, r in mine.items():
            other = theirs.get(iid)
            if other is not None and r["resolved"] != other["resolved"]:
                if r["resolved"]:
                    wins += 1
                else:
                    losses += 1
        a, b = 1.0 + wins, 1.0 + losses
        mean = a / (a + b)
        sd = (a * b / ((a + b) ** 2 * (a + b + 1.0))) ** 0.5
        return 1.0 - _PHI.cdf((0.5 - mean) / sd)

    def review(self, view: TreeView, state: ChildState) -> Close | None:
        node = view.nodes.get(state.node_id or "")
        if node is None or node.parent_id is None or len(node.results) < self.min_tasks:
            return None
        if self.p_better(view, node.id) < self.delta:
            return Close(Verdict.BELOW_GATE)
        return None

    # ---- the next free slot ---------------------------------------------------------------------------------
    def next(self, view: TreeView) -> list[Proposal]:
        probe = self._probe(view)
        if probe is not None:
            return [probe]
        if view.active() >= 2 * view.slots:
            return []
        # Parents come from nodes whose test is over (confirmed): a node still under test may yet be
        # closed, and a child of a closed node would have no admitted parent.
        pool = [n for n in view.nodes.values() if n.status != "admitted" or self.confirmed(view, n.id)]
        if not any(n.status == "admitted" and n.results for n in pool):
            return []
        return [Expand(self.selector.select(pool, view.children, 1, self.rng)[0])]

    def confirmed(self, view: TreeView, node_id: str) -> bool:
        return len(view.nodes[node_id].results) >= self.target(view, node_id)

    def _probe(self, view: TreeView) -> Probe | None:
        best, best_p = None, -1.0
        for node_id in view.open_nodes():
            asked = view.asked.get(node_id, set())
            done = len(view.nodes[node_id].results)
            if len(asked) >= self.target(view, node_id) or len(asked) - done >= self.per_node_inflight:
                continue
            p = self.p_better(view, node_id) if done >= 1 else 0.5
            if view.nodes[node_id].parent_id is None:
                p = 2.0   # the reference of every comparison below it goes first
            if p > best_p:
                best, best_p = node_id, p
        if best is None:
            return None
        task = next((t for t in self.order(view) if t not in view.asked.get(best, ())), None)
        return Probe(best, task) if task is not None else None

    def pick(self, view: TreeView) -> str | None:
        ids = [i for i in scored_admitted(view) if len(view.nodes[i].results) >= self.pick_min]
        ids = ids or scored_admitted(view)
        if not ids:
            return None
        s = np.array([view.counts(i)[0] for i in ids], dtype=float)
        f = np.array([view.counts(i)[1] for i in ids], dtype=float)
        return ids[int(np.argmax(beta_quantile(s, f, self.epsilon)))]
