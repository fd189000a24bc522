"""Parent selection: small strategy classes over the archive's admitted, scored nodes.

Every strategy draws from a caller-seeded `random.Random`, so a run is reproducible.
Candidates are the admitted nodes that have a score (the root included).
"""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

from dgm.archive.node import Node
from dgm.errors import ArchiveError, BadInput

if TYPE_CHECKING:
    from dgm.archive import Archive


class Selector(Protocol):
    name: str

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]: ...


def candidates(nodes: Sequence[Node]) -> list[Node]:
    """The nodes a parent may be drawn from: admitted, with a score."""
    return [n for n in nodes if n.status == "admitted" and n.score is not None]


def _checked(nodes: Sequence[Node], k: int) -> list[Node]:
    if k < 0:
        raise BadInput(f"number of parents k={k} is negative", hint="ask for k >= 0 parents")
    pool = candidates(nodes)
    if not pool and k:
        raise ArchiveError("no admitted node with a score to select a parent from "
                           "(evaluate the root node first)")
    return pool


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class _Weighted:
    """A strategy that draws k parents with replacement, p_i ∝ weight_i."""

    name = ""

    def weights(self, pool: list[Node], n_children: Mapping[str, int]) -> list[float]:
        raise NotImplementedError

    def probabilities(self, nodes: Sequence[Node], n_children: Mapping[str, int]) -> dict[str, float]:
        """node id -> probability of being drawn in one draw (candidates only)."""
        pool = candidates(nodes)
        w = self.weights(pool, n_children)
        total = sum(w)
        if total <= 0:  # e.g. every score is 0 under score_prop: fall back to uniform
            return {n.id: 1.0 / len(pool) for n in pool}
        return {n.id: wi / total for n, wi in zip(pool, w)}

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]:
        pool = _checked(nodes, k)
        if not k:
            return []
        w = self.weights(pool, n_children)
        if sum(w) <= 0:
            w = [1.0] * len(pool)
        return [n.id for n in rng.choices(pool, weights=w, k=k)]


class ScoreChildProp(_Weighted):
    """DGM: p_i ∝ sigmoid(λ(α_i − α0)) · 1/(1 + n_children_i)."""

    name = "score_child_prop"

    def __init__(self, lam: float = 10.0, alpha0: float = 0.5) -> None:
        self.lam = lam
        self.alpha0 = alpha0

    def weights(self, pool: list[Node], n_children: Mapping[str, int]) -> list[float]:
        lam, a0 = self.lam, self.alpha0
        return [_sigmoid(lam * (n.score - a0)) / (1 + n_children.get(n.id, 0)) for n in pool]


class ScoreProp(_Weighted):
    """p_i ∝ α_i (uniform when every score is 0)."""

    name = "score_prop"

    def weights(self, pool: list[Node], n_children: Mapping[str, int]) -> list[float]:
        return [n.score for n in pool]


class Random(_Weighted):
    """Uniform over the candidates."""

    name = "random"

    def weights(self, pool: list[Node], n_children: Mapping[str, int]) -> list[float]:
        return [1.0] * len(pool)


class Best:
    """Highest score first; ties go to fewer children, then the lower id. k > candidates wraps."""

    name = "best"

    def ranking(self, nodes: Sequence[Node], n_children: Mapping[str, int]) -> list[str]:
        pool = candidates(nodes)
        pool.sort(key=lambda n: (-n.score, n_children.get(n.id, 0), int(n.id)))
        return [n.id for n in pool]

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]:
        _checked(nodes, k)
        order = self.ranking(nodes, n_children)
        return [order[i % len(order)] for i in range(k)]


def clade_counts(nodes: Sequence[Node]) -> dict[str, tuple[int, int]]:
    """node id -> (resolved, unresolved) task results summed over its subtree of admitted nodes."""
    by_id = {n.id: n for n in nodes}
    succ = {n.id: 0 for n in nodes}
    fail = {n.id: 0 for n in nodes}
    # Deepest first, so each node's totals are complete before they flow to its parent.
    for n in sorted(nodes, key=lambda n: n.generation, reverse=True):
        if n.status == "admitted":
            r = n.resolved_count
            succ[n.id] += r
            fail[n.id] += n.evaluated_count - r
        if n.parent_id in by_id:
            succ[n.parent_id] += succ[n.id]
            fail[n.parent_id] += fail[n.id]
    return {i: (succ[i], fail[i]) for i in succ}


class HgmThompson:
    """HGM clade Thompson sampling: per draw, argmax over Beta(1 + clade wins, 1 + clade losses)."""

    name = "hgm_thompson"

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]:
        pool = _checked(nodes, k)
        if not k:
            return []
        import numpy as np  # vectorised Beta draws keep 100k-node selection fast

        counts = clade_counts(nodes)
        a = np.array([1 + counts[n.id][0] for n in pool], dtype=float)
        b = np.array([1 + counts[n.id][1] for n in pool], dtype=float)
        gen = np.random.default_rng(rng.getrandbits(64))
        draws = gen.beta(a, b, size=(k, len(pool)))
        return [pool[i].id for i in draws.argmax(axis=1)]


SELECTORS: dict[str, type] = {
    cls.name: cls for cls in (ScoreChildProp, ScoreProp, Best, Random, HgmThompson)
}


def make_selector(name: str, **params: object) -> Selector:
    """Build the strategy called `name`; BadInput for an unknown name or parameter."""
    cls = SELECTORS.get(name)
    if cls is None:
        raise BadInput(f"unknown selection strategy {name!r}",
                       hint=f"choose one of {', '.join(SELECTORS)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise BadInput(f"bad parameters for selection strategy {name!r}: {exc}",
                       hint="see docs/archive.md for each strategy's parameters") from None


def select_parents(archive: "Archive", selector: Selector, k: int, rng: random.Random) -> list[str]:
    """Draw k parent ids from an archive (children counted over every status)."""
    return selector.select(archive.nodes(), archive.children_counts(), k, rng)
