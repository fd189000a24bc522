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

from dgm.scheduler.policies import HgmPolicy, Probe, beta_quantile, scored_admitted, thompson_argmax
from dgm.scheduler.states import ChildState, Close, EvalPlan
from dgm.scheduler.verdicts import Verdict
from dgm.scheduler.view import TreeView
from dgm.selection import Selector

_PHI = NormalDist()


class SequentialPolicy(HgmPolicy):
    """HGM's schedule (expand when evals^alpha >= |tree|, Thompson-sampled probes) over the nodes a
    sequential test keeps: a child is closed once it is unlikely to beat its parent."""

    name = "sequential"

    def __init__(self, selector: Selector, plan: EvalPlan, *, delta: float = 0.2, min_tasks: int = 5,
                 alpha: float = 0.6, epsilon: float = 0.1, prior: float = 0.0, max_children: int | None = None,
                 seed: int = 0) -> None:
        if not 0.0 < delta < 1.0:
            raise TypeError(f"delta={delta} must lie in (0, 1)")
        super().__init__(selector, plan, alpha=alpha, epsilon=epsilon, max_children=max_children, seed=seed)
        self.delta, self.min_tasks = delta, min_tasks
        self.prior = float(prior)
        self._order: list[str] | None = None

    def order(self, view: TreeView) -> list[str]:
        """One task order for every node, so a child's first tasks are its parent's: comparisons pair."""
        if self._order is None:
            self._order = list(view.tasks)
            random.Random(0).shuffle(self._order)
        return self._order

    # ---- the test ---------------------------------------------------------------------------------------------
    def p_better(self, view: TreeView, node_id: str) -> float:
        """P(child beats its parent) from the tasks both have answered (sign test, Beta(1, 1) prior)."""
        node = view.nodes[node_id]
        parent = view.nodes.get(node.parent_id or "")
        if parent is None:
            return 1.0
        theirs = parent.results
        wins = losses = 0
        for iid, r in node.results.items():
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
        if view.started.get(node.id):
            return None   # already a parent: its children need it admitted
        if self.p_better(view, node.id) < self.delta:
            return Close(Verdict.BELOW_GATE)
        return None

    # ---- probes follow one shared task order; closed children leave the tree count (HgmPolicy._tree) --------
    def _probe(self, view: TreeView) -> Probe | None:
        cand = view.probe_candidates()
        if not len(cand):
            return None
        s, f = self.columns(view, cand)
        node = view.ids[int(cand[thompson_argmax(self.rng, s, f)])]
        asked = view.asked.get(node, ())
        task = next((t for t in self.order(view) if t not in asked), None)
        return Probe(node, task) if task is not None else None

    def pick(self, view: TreeView) -> str | None:
        ids = scored_admitted(view)
        if not ids:
            return None
        s, f = self.columns(view, np.array([view.index[i] for i in ids], dtype=np.int64))
        return ids[int(np.argmax(beta_quantile(s, f, self.epsilon)))]

    def columns(self, view: TreeView, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each node's results, plus `prior` pseudo-results at its parent's mean: a child is its parent
        plus a small step, so the parent's record is evidence about the child until its own outweighs it."""
        s, f = view.col_s[idx], view.col_f[idx]   # fancy indexing copies: safe to add to
        if self.prior:
            par = view.col_parent[idx]
            has = par >= 0
            ps, pf = view.col_s[par[has]], view.col_f[par[has]]
            m = (1.0 + ps) / (2.0 + ps + pf)
            w = np.minimum(self.prior, ps + pf)
            s[has] += w * m
            f[has] += w * (1.0 - m)
        return s, f
