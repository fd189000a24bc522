"""`sequential` (ours): estimate every node from the whole tree, climb from the best, test children
against their parents.

A child is its parent plus a small step, and 60 tasks measure an agent only to about ±0.04, the
size of a typical step: a node's own score is a poor guide to its quality. So the policy keeps a
posterior of every node's quality under the model "q_child = q_parent + N(0, tau^2); a result is
q plus task difficulty plus noise" (dgm/scheduler/lineage.py, exact Gaussian belief propagation on
the tree). Each node's estimate then pools its own results with its ancestors' and descendants',
weighed by distance. On that posterior:

- parents: the node with the best posterior mean (strategy `lineage`): the search climbs from
  the surest best agent, not from a lucky score on few tasks;
- probes: Thompson sampling over the posteriors of the open nodes, each on the next task of one
  shared order, so a child's first tasks are its parent's;
- a child whose paired sign test against its parent (only the shared tasks where they disagree)
  gives P(child better) < delta after `min_tasks` results is closed ("below gate"), and the
  evaluations saved go to new children (HGM's rule: expand when evals^alpha >= |tree|);
- the final pick: the admitted node with the best epsilon-quantile of its posterior.

See docs/scheduler.md for the parameters, the seeds they were tuned on, and the measurements.
"""

from __future__ import annotations

import random
from itertools import islice
from statistics import NormalDist

import numpy as np

from dgm.scheduler.lineage import Posterior, solve
from dgm.scheduler.policies import HgmPolicy, Probe, beta_quantile, scored_admitted, thompson_argmax
from dgm.scheduler.strategies import Lineage
from dgm.scheduler.states import ChildState, Close, EvalPlan
from dgm.scheduler.verdicts import Verdict
from dgm.scheduler.view import TreeView
from dgm.selection import Selector

_PHI = NormalDist()


class SequentialPolicy(HgmPolicy):
    """HGM's schedule (expand when evals^alpha >= |tree|) driven by the tree posterior: parents by the
    best posterior mean, probes by Thompson sampling over posteriors, children closed by a paired
    sequential test against their parent, the pick by the posterior's epsilon-quantile. `lineage=False`
    turns the posterior off (probes and pick on a node's own results, `prior` pseudo-results)."""

    name = "sequential"

    def __init__(self, selector: Selector, plan: EvalPlan, *, delta: float = 0.2, min_tasks: int = 5,
                 alpha: float = 0.6, epsilon: float = 0.1, prior: float = 0.0, max_children: int | None = None,
                 lineage: bool = True, tau: float = 0.05, noise: float = 0.1, kappa: float = 0.0,
                 refresh: int = 0, seed: int = 0) -> None:
        if not 0.0 < delta < 1.0:
            raise TypeError(f"delta={delta} must lie in (0, 1)")
        if not (tau > 0 and noise > 0):
            raise TypeError(f"tau={tau} and noise={noise} must be > 0")
        super().__init__(selector, plan, alpha=alpha, epsilon=epsilon, max_children=max_children, seed=seed)
        self.delta, self.min_tasks = delta, min_tasks
        self.prior = float(prior)
        self.lineage, self.tau, self.noise, self.kappa = bool(lineage), float(tau), float(noise), float(kappa)
        self.refresh = int(refresh)   # 0: every result while the tree is small, then every nodes/1000 results
        self.z = -_PHI.inv_cdf(epsilon)
        self._order: list[str] | None = None
        self._post: Posterior | None = None
        self._post_at = -1
        # The tree's results as (node row, task column, resolved) arrays, extended as results arrive.
        self._seen = np.zeros(0)                 # results of each node already in the arrays
        self._depth: list[int] = []
        self._col: dict[str, int] = {}
        self._rows = np.zeros(0, dtype=np.int64)
        self._cols = np.zeros(0, dtype=np.int64)
        self._vals = np.zeros(0)

    # ---- the tree posterior (dgm/scheduler/lineage.py), kept in step with the view ------------------------
    def posterior(self, view: TreeView) -> Posterior:
        """Every node's posterior quality; recomputed once `refresh` results arrived since the last time (or
        a node was added): between, decisions use estimates a few results old (W results are in flight anyway)."""
        every = self.refresh or max(1, len(view.ids) // 1000)
        if self._post is not None and view.evals_done - self._post_at < every \
                and len(self._post.ids) == len(view.ids) and view.evals_done >= self._post_at:
            return self._post
        n = len(view.ids)
        for i in range(len(self._depth), n):
            par = int(view.col_parent[i])
            self._depth.append(self._depth[par] + 1 if par >= 0 else 0)
        if len(self._seen) < n:
            self._seen = np.concatenate([self._seen, np.zeros(max(n, 2 * len(self._seen)) - len(self._seen))])
        counts = view.col_s[:n] + view.col_f[:n]
        col = self._col or {t: j for j, t in enumerate(view.tasks)}
        self._col = col
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for i in np.flatnonzero(counts != self._seen[:n]).tolist():   # only nodes with new results
            res = view.nodes[view.ids[i]].results
            for t, r in islice(res.items(), int(self._seen[i]), None):
                j = col.get(t)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
                    vals.append(1.0 if r["resolved"] else 0.0)
            self._seen[i] = len(res)
        if rows:
            self._rows = np.concatenate([self._rows, np.array(rows, dtype=np.int64)])
            self._cols = np.concatenate([self._cols, np.array(cols, dtype=np.int64)])
            self._vals = np.concatenate([self._vals, np.array(vals)])
        self._post = solve(view.col_parent[:n], self._rows, self._cols, self._vals, len(view.tasks),
                           list(view.ids), tau=self.tau, noise=self.noise, depth=np.array(self._depth, dtype=np.int64))
        self._post_at = view.evals_done
        return self._post

    def _parent(self, view: TreeView) -> str | None:
        """The strategy's parent; with `lineage` (the default strategy) from the policy's own posterior."""
        if not isinstance(self.selector, Lineage):
            return super()._parent(view)
        if self.max_children is not None and view.expansions >= self.max_children:
            return None
        ids = scored_admitted(view)
        if not ids:
            return None
        post = self.posterior(view)
        idx = np.array([view.index[i] for i in ids], dtype=np.int64)
        return ids[int(np.argmax(post.mean[idx] + self.kappa * post.sd[idx]))]

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
        if self.lineage:
            post = self.posterior(view)
            draw = post.mean[cand] + post.sd[cand] * self.rng.standard_normal(len(cand))
            node = view.ids[int(cand[int(np.argmax(draw))])]
        else:
            s, f = self.columns(view, cand)
            node = view.ids[int(cand[thompson_argmax(self.rng, s, f)])]
        asked = view.asked.get(node, ())
        task = next((t for t in self.order(view) if t not in asked), None)
        return Probe(node, task) if task is not None else None

    def pick(self, view: TreeView) -> str | None:
        ids = scored_admitted(view)
        if not ids:
            return None
        idx = np.array([view.index[i] for i in ids], dtype=np.int64)
        if self.lineage:
            post = self.posterior(view)
            return ids[int(np.argmax(post.mean[idx] - self.z * post.sd[idx]))]
        s, f = self.columns(view, idx)
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
