"""Scheduling policies behind one small Protocol, chosen by name (`[policy] name = "dgm"`).

A policy answers three questions: what the next free slot should do (`next`), whether an open
node's evaluation should end (`review`), and which agent is the run's answer (`pick`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dgm.scheduler.states import ChildState, Close, EvalPlan
from dgm.scheduler.view import TreeView
from dgm.selection import Selector


@dataclass(frozen=True)
class Expand:
    """Start a child of this parent: diagnose, self-modify, stage 0, then the plan's evaluation."""

    parent_id: str


@dataclass(frozen=True)
class Probe:
    """Evaluate one more task of an open node."""

    node_id: str
    instance_id: str


Proposal = Expand | Probe


class Policy(Protocol):
    name: str
    plan: EvalPlan

    def next(self, view: TreeView) -> list[Proposal]: ...
    def review(self, view: TreeView, state: ChildState) -> Close | None: ...
    def pick(self, view: TreeView) -> str | None: ...


def beta_quantile(s: np.ndarray, f: np.ndarray, q: float) -> np.ndarray:
    """The q-quantile of Beta(1 + s, 1 + f), by the normal approximation (exact enough to rank nodes)."""
    a, b = 1.0 + s, 1.0 + f
    mean = a / (a + b)
    sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
    z = _norm_ppf(q)
    return np.clip(mean + z * sd, 0.0, 1.0)


def _norm_ppf(q: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(q)


def thompson_argmax(rng: np.random.Generator, s: np.ndarray, f: np.ndarray) -> int:
    """argmax of one Beta(1 + s, 1 + f) draw per node (HGM's rule). One vectorised draw over every
    node: pre-filtering hopeless nodes by confidence bounds cost more than it saved (measured)."""
    return int(np.argmax(rng.beta(1.0 + s, 1.0 + f)))


def scored_admitted(view: TreeView) -> list[str]:
    return [n.id for n in view.nodes.values() if n.status == "admitted" and n.results]


class DgmPolicy:
    """Today's schedule: iterations of k children, each through gated stages; the next iteration starts
    when every child of this one is decided (a worker idles while the slowest child finishes)."""

    name = "dgm"

    def __init__(self, selector: Selector, plan: EvalPlan, *, children_per_iteration: int = 2,
                 iterations: int = 80, seed: int = 0) -> None:
        self.selector, self.plan = selector, plan
        self.k, self.iterations, self.seed = children_per_iteration, iterations, seed
        self.iteration = 0

    def next(self, view: TreeView) -> list[Proposal]:
        if view.active():
            return []
        self.iteration = -(-view.expansions // self.k)   # survives a resume: iterations begun so far
        if self.iteration >= self.iterations:
            return []
        rng = random.Random(f"{self.seed}:{self.iteration + 1}")
        parents = self.selector.select(view.node_list(), view.children, self.k, rng)
        return [Expand(p) for p in parents]

    def review(self, view: TreeView, state: ChildState) -> Close | None:
        return None

    def pick(self, view: TreeView) -> str | None:
        """The admitted node with the best score (ties: more tasks evaluated, then the older node)."""
        best = None
        for n in view.nodes.values():
            if n.status == "admitted" and n.score is not None:
                key = (n.score, len(n.results), -int(n.id))
                if best is None or key > best[0]:
                    best = (key, n.id)
        return best[1] if best else None


class HgmPolicy:
    """HGM: each free slot expands (parent by clade Thompson sampling) when evals^alpha >= |tree|, or
    else evaluates one unseen task of the open node drawn by Thompson sampling over its own results."""

    name = "hgm"

    def __init__(self, selector: Selector, plan: EvalPlan, *, alpha: float = 0.6, epsilon: float = 0.1,
                 max_children: int | None = None, seed: int = 0) -> None:
        self.selector, self.alpha, self.epsilon = selector, alpha, epsilon
        self.max_children = max_children
        self.plan = EvalPlan(smoke=plan.smoke, gate=plan.gate, open=True, verifiers=plan.verifiers)
        self.rng = np.random.default_rng(seed)
        self.pyrng = random.Random(seed)

    def _tree(self, view: TreeView) -> int:
        """Nodes in the tree beyond the root, counting expansions under way (HGM's pending expands)."""
        return len(view.nodes) - view.rejected - 1 + view.unborn()

    def next(self, view: TreeView) -> list[Proposal]:
        if view.evals_done ** self.alpha >= self._tree(view):
            parent = self._parent(view)
            if parent is not None:
                return [Expand(parent)]
        probe = self._probe(view)
        if probe is not None:
            return [probe]
        parent = self._parent(view)
        return [Expand(parent)] if parent is not None and view.active() < 4 * view.slots else []

    def _parent(self, view: TreeView) -> str | None:
        if self.max_children is not None and view.expansions >= self.max_children:
            return None
        if not scored_admitted(view):
            return None
        return self.selector.select(view.node_list(), view.children, 1, self.pyrng)[0]

    def _probe(self, view: TreeView) -> Probe | None:
        cand = view.probe_candidates()
        if not len(cand):
            return None
        node = view.ids[int(cand[thompson_argmax(self.rng, view.col_s[cand], view.col_f[cand])])]
        return Probe(node, self.pyrng.choice(view.unasked(node)))

    def review(self, view: TreeView, state: ChildState) -> Close | None:
        return None

    def pick(self, view: TreeView) -> str | None:
        ids = scored_admitted(view)
        if not ids:
            return None
        s = np.array([view.counts(i)[0] for i in ids], dtype=float)
        f = np.array([view.counts(i)[1] for i in ids], dtype=float)
        return ids[int(np.argmax(beta_quantile(s, f, self.epsilon)))]
