"""Selection strategies the scheduler adds to dgm.selection's (which it uses unchanged)."""

from __future__ import annotations

import random
from typing import Mapping, Sequence

from dgm.archive.node import ADMITTED, Node
from dgm.errors import BadInput
from dgm.selection import SELECTORS, Selector, _checked as make_pool_checked


class LowerBound:
    """argmax of the epsilon-quantile of Beta(1 + resolved, 1 + unresolved) over a node's own results:
    the node most surely good, so a lucky score on few tasks does not win (k > 1 repeats it)."""

    name = "lower_bound"

    def __init__(self, epsilon: float = 0.1) -> None:
        if not 0.0 < float(epsilon) < 1.0:
            raise TypeError(f"epsilon={epsilon} must lie in (0, 1)")
        self.epsilon = float(epsilon)

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]:
        import numpy as np
        from statistics import NormalDist

        pool = [n for n in candidates_checked(nodes, n_children, k)]
        if not k:
            return []
        n = np.array([len(p.results) for p in pool], dtype=float)
        s = np.rint(np.array([p.score for p in pool], dtype=float) * n)
        a, b = 1.0 + s, 1.0 + n - s
        sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
        bound = a / (a + b) + NormalDist().inv_cdf(self.epsilon) * sd
        return [pool[int(np.argmax(bound))].id] * k


class Lineage:
    """argmax of a node's posterior quality under the tree model of dgm/scheduler/lineage.py: its own
    results, its ancestors' and its descendants', each weighed by how far apart they are in the tree
    (k > 1 repeats it). The `sequential` policy answers it from its own posterior, kept in step."""

    name = "lineage"

    def __init__(self, tau: float = 0.05, noise: float = 0.1) -> None:
        if not (float(tau) > 0 and float(noise) > 0):
            raise TypeError(f"tau={tau} and noise={noise} must be > 0")
        self.tau, self.noise = float(tau), float(noise)

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]:
        import numpy as np

        from dgm.scheduler.lineage import lineage_posterior

        pool = candidates_checked(nodes, n_children, k)
        if not k:
            return []
        post = lineage_posterior(nodes, tau=self.tau, noise=self.noise)
        where = {nid: i for i, nid in enumerate(post.ids)}
        means = np.array([post.mean[where[n.id]] for n in pool])
        return [pool[int(np.argmax(means))].id] * k


def candidates_checked(nodes: Sequence[Node], n_children: Mapping[str, int], k: int) -> list[Node]:
    make_pool_checked(nodes, n_children, k)
    return [n for n in nodes if n.status == ADMITTED and n.score is not None]


STRATEGIES: dict[str, type] = {**SELECTORS, LowerBound.name: LowerBound, Lineage.name: Lineage}


def make_strategy(name: str, **params: object) -> Selector:
    """dgm.selection's strategies plus lower_bound and lineage; BadInput names the valid choices."""
    cls = STRATEGIES.get(name)
    if cls is None:
        raise BadInput(f"unknown selection strategy {name!r}", hint=f"choose one of {', '.join(STRATEGIES)}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise BadInput(f"bad parameters for selection strategy {name!r}: {exc}",
                       hint="see docs/scheduler.md") from None
