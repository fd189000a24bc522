"""Parent selection: small strategy classes over the archive's admitted, scored nodes.

Every strategy draws from a caller-seeded `random.Random`, so a run is reproducible.
Candidates are the admitted nodes that have a score (the root included).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

from dgm.archive.node import ADMITTED, Node
from dgm.errors import ArchiveError, BadInput

if TYPE_CHECKING:
    import numpy as np

    from dgm.archive import Archive


class Selector(Protocol):
    name: str

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]: ...


def candidates(nodes: Sequence[Node]) -> list[Node]:
    """The nodes a parent may be drawn from: admitted, with a score."""
    return [n for n in nodes if n.status == "admitted" and n.score is not None]


@dataclass
class Pool:
    """The candidates as columns, in the order of the node list."""

    ids: list[str]
    scores: "np.ndarray"
    children: "np.ndarray"

    def __len__(self) -> int:
        return len(self.ids)


def make_pool(nodes: Sequence[Node], n_children: Mapping[str, int]) -> Pool:
    """Candidates (admitted, with a score) with their scores and children counts."""
    import numpy as np

    pool = [n for n in nodes if n.status == ADMITTED and n.score is not None]
    ids = [n.id for n in pool]
    get = n_children.get
    return Pool(ids, np.array([n.score for n in pool], dtype=float),
                np.array([get(i, 0) for i in ids], dtype=float))


def _checked(nodes: Sequence[Node], n_children: Mapping[str, int], k: int) -> Pool:
    if k < 0:
        raise BadInput(f"number of parents k={k} is negative", hint="ask for k >= 0 parents")
    pool = make_pool(nodes, n_children)
    if not len(pool) and k:
        raise ArchiveError("no admitted node with a score to select a parent from "
                           "(evaluate the root node first)")
    return pool


class _Weighted:
    """A strategy that draws k parents with replacement, p_i ∝ weight_i."""

    name = ""

    def weights(self, pool: Pool) -> "np.ndarray":
        raise NotImplementedError

    def probabilities(self, nodes: Sequence[Node], n_children: Mapping[str, int]) -> dict[str, float]:
        """node id -> probability of being drawn in one draw (candidates only)."""
        pool = make_pool(nodes, n_children)
        if not len(pool):
            return {}
        w = self.weights(pool)
        total = float(w.sum())
        if total <= 0:  # e.g. every score is 0 under score_prop: fall back to uniform
            return {i: 1.0 / len(pool) for i in pool.ids}
        return dict(zip(pool.ids, (w / total).tolist()))

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]:
        pool = _checked(nodes, n_children, k)
        if not k:
            return []
        import numpy as np

        cum = np.cumsum(self.weights(pool))
        if cum[-1] <= 0:
            cum = np.arange(1, len(pool) + 1, dtype=float)
        # The same inverse-CDF draw as random.choices, vectorised over the candidates.
        u = np.array([rng.random() for _ in range(k)]) * cum[-1]
        picks = np.minimum(np.searchsorted(cum, u, side="right"), len(pool) - 1)
        return [pool.ids[i] for i in picks.tolist()]


class ScoreChildProp(_Weighted):
    """DGM: p_i ∝ sigmoid(λ(α_i − α0)) · 1/(1 + n_children_i)."""

    name = "score_child_prop"

    def __init__(self, lam: float = 10.0, alpha0: float = 0.5) -> None:
        self.lam = float(lam)
        self.alpha0 = float(alpha0)

    def weights(self, pool: Pool) -> "np.ndarray":
        import numpy as np

        with np.errstate(over="ignore"):  # exp overflow -> sigmoid 0, which is right
            sig = 1.0 / (1.0 + np.exp(-self.lam * (pool.scores - self.alpha0)))
        return sig / (1.0 + pool.children)


class ScoreProp(_Weighted):
    """p_i ∝ α_i (uniform when every score is 0)."""

    name = "score_prop"

    def weights(self, pool: Pool) -> "np.ndarray":
        return pool.scores


class Random(_Weighted):
    """Uniform over the candidates."""

    name = "random"

    def weights(self, pool: Pool) -> "np.ndarray":
        import numpy as np

        return np.ones(len(pool))

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]:
        pool = _checked(nodes, n_children, k)
        return [pool.ids[rng.randrange(len(pool))] for _ in range(k)]


class Best:
    """Highest score first; ties go to fewer children, then the lower id. k > candidates wraps."""

    name = "best"

    def ranking(self, nodes: Sequence[Node], n_children: Mapping[str, int],
                limit: int | None = None) -> list[str]:
        """Candidate ids best first (only the first `limit` when given)."""
        return self._rank(make_pool(nodes, n_children), limit)

    @staticmethod
    def _rank(pool: Pool, limit: int | None) -> list[str]:
        import numpy as np

        if not len(pool):
            return []
        scores, kids, ids = pool.scores, pool.children, pool.ids

        def key(i: int) -> tuple:
            return (-scores[i], kids[i], int(ids[i]))

        if limit is None or limit >= len(pool):
            return [ids[i] for i in sorted(range(len(pool)), key=key)]
        # Order by (score, children) in C; only the prefix up to the end of the limit-th
        # element's tie group needs the exact key with the id.
        order = np.lexsort((kids, -scores))
        last = order[limit - 1]
        rest = order[limit:]
        same = (scores[rest] == scores[last]) & (kids[rest] == kids[last])
        end = limit + (len(rest) if same.all() else int(np.argmin(same)))
        return [ids[i] for i in sorted(order[:end].tolist(), key=key)[:limit]]

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]:
        pool = _checked(nodes, n_children, k)
        if not k:
            return []
        order = self._rank(pool, limit=min(k, len(pool)))
        return [order[i % len(order)] for i in range(k)]


def _clade_arrays(nodes: Sequence[Node]) -> tuple["np.ndarray", "np.ndarray", "np.ndarray"]:
    """Per node (in list order): clade successes, clade failures, and whether it is a candidate."""
    import numpy as np

    # One list comprehension per column: over 100k records these passes are the whole cost.
    index = {n.id: i for i, n in enumerate(nodes)}
    get = index.get
    parent = np.array([get(n.parent_id, -1) for n in nodes], dtype=np.int64)
    gen = np.array([n.generation for n in nodes], dtype=np.int64)
    admitted = np.array([n.status == ADMITTED for n in nodes], dtype=bool)
    evaluated = np.array([len(n.results) for n in nodes], dtype=np.int64)
    score_arr = np.array([n.score for n in nodes], dtype=float)  # None -> nan
    evaluated[~admitted] = 0
    # The archive keeps score = resolved / evaluated, so counts come from two numbers;
    # a node with results but no score (hand-built) is counted from its results.
    resolved = np.rint(np.nan_to_num(score_arr) * evaluated).astype(np.int64)
    for i in np.flatnonzero(np.isnan(score_arr) & (evaluated > 0)).tolist():
        resolved[i] = sum(1 for r in nodes[i].results.values() if r.get("resolved"))
    succ, fail = resolved, evaluated - resolved
    # Deepest level first, so each node's totals are complete before they flow to its parent.
    order = np.argsort(-gen, kind="stable")
    cuts = np.flatnonzero(np.diff(gen[order])) + 1
    if len(cuts) < 64:  # few generations: one vectorised step per generation
        for idx in np.split(order, cuts):
            idx = idx[parent[idx] >= 0]
            np.add.at(succ, parent[idx], succ[idx])
            np.add.at(fail, parent[idx], fail[idx])
    else:  # deep lineages: one plain-list step per node beats thousands of numpy calls
        up, s_list, f_list = parent.tolist(), succ.tolist(), fail.tolist()
        for i in order.tolist():
            p = up[i]
            if p >= 0:
                s_list[p] += s_list[i]
                f_list[p] += f_list[i]
        succ, fail = np.array(s_list, dtype=np.int64), np.array(f_list, dtype=np.int64)
    return succ, fail, admitted & ~np.isnan(score_arr)


def clade_counts(nodes: Sequence[Node]) -> dict[str, tuple[int, int]]:
    """node id -> (resolved, unresolved) task results summed over its subtree of admitted nodes."""
    if not nodes:
        return {}
    succ, fail, _ = _clade_arrays(nodes)
    return {n.id: (int(succ[i]), int(fail[i])) for i, n in enumerate(nodes)}


class HgmThompson:
    """HGM clade Thompson sampling: per draw, argmax over Beta(1 + clade wins, 1 + clade losses)."""

    name = "hgm_thompson"

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]:
        import numpy as np

        if k < 0:
            raise BadInput(f"number of parents k={k} is negative", hint="ask for k >= 0 parents")
        if not k:
            return []
        if not nodes:
            _checked(nodes, n_children, k)
        succ, fail, eligible = _clade_arrays(nodes)
        cand = np.flatnonzero(eligible)
        if not len(cand):
            _checked(nodes, n_children, k)  # raises: nothing to select from
        gen_rng = np.random.default_rng(rng.getrandbits(64))
        draws = gen_rng.beta(1.0 + succ[cand], 1.0 + fail[cand], size=(k, len(cand)))
        return [nodes[i].id for i in cand[draws.argmax(axis=1)].tolist()]


class PerformanceNovelty:
    """Group-Evolving Agents (arXiv 2602.04837): the top k by α_i · novelty_i, where novelty is the mean
    cosine distance of a node's task-success vector to its M nearest candidates (k > candidates wraps)."""

    name = "performance_novelty"

    def __init__(self, m: int = 4) -> None:
        if int(m) < 1:
            raise TypeError(f"m={m} must be at least 1")
        self.m = int(m)

    def ranking(self, nodes: Sequence[Node], n_children: Mapping[str, int]) -> list[tuple[str, float]]:
        """(node id, α · novelty) of every candidate, best first (ties: fewer children, then the lower id)."""
        from dgm.science.novelty import novelty

        pool = [n for n in nodes if n.status == ADMITTED and n.score is not None]
        nov = novelty(pool, self.m)
        scored = [(n.id, float(n.score) * nov[n.id]) for n in pool]
        return sorted(scored, key=lambda t: (-t[1], n_children.get(t[0], 0), int(t[0])))

    def select(self, nodes: Sequence[Node], n_children: Mapping[str, int], k: int,
               rng: random.Random) -> list[str]:
        _checked(nodes, n_children, k)
        if not k:
            return []
        order = [i for i, _ in self.ranking(nodes, n_children)]
        return [order[i % len(order)] for i in range(k)]


SELECTORS: dict[str, type] = {
    cls.name: cls for cls in (ScoreChildProp, ScoreProp, Best, Random, HgmThompson, PerformanceNovelty)
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
