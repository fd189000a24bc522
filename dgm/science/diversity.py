"""Diversity of the archive: pass@k over its best agents, coverage, Jaccard distances, distinct solved
sets, and the collapse alarm (pass@1 rising while pass@k for the largest proper k falls)."""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Sequence

from dgm.archive.node import Node

KS: tuple[int | None, ...] = (1, 2, 5, 10, None)  # None: every admitted agent
WINDOW = 3


def solved(node: Node) -> frozenset[str]:
    """The task ids a node resolved."""
    return frozenset(iid for iid, r in node.results.items() if isinstance(r, dict) and r.get("resolved"))


def ranked(nodes: Sequence[Node]) -> list[Node]:
    """Admitted nodes with a score, best first (ties: the lower id, as the progress view picks the best)."""
    pool = [n for n in nodes if n.status == "admitted" and n.score is not None]
    return sorted(pool, key=lambda n: (-float(n.score), int(n.id)))


def pass_at_k(nodes: Sequence[Node], k: int | None) -> float | None:
    """Share of the tasks all of the top-k agents ran that at least one of them resolved (None: no task)."""
    top = ranked(nodes)[:k] if k is not None else ranked(nodes)
    if not top:
        return None
    common = set.intersection(*(set(n.results) for n in top))
    if not common:
        return None
    hit = set().union(*(solved(n) for n in top)) & common
    return len(hit) / len(common)


def coverage(nodes: Sequence[Node]) -> float | None:
    """Union coverage: the share of every task any admitted agent ran that some admitted agent resolved."""
    pool = ranked(nodes)
    ran = set().union(*(set(n.results) for n in pool)) if pool else set()
    if not ran:
        return None
    return len(set().union(*(solved(n) for n in pool))) / len(ran)


def jaccard_distance(a: frozenset[str], b: frozenset[str]) -> float:
    """1 − |a ∩ b| / |a ∪ b|; two empty sets are the same set (distance 0)."""
    union = a | b
    return 0.0 if not union else 1.0 - len(a & b) / len(union)


def mean_jaccard(nodes: Sequence[Node]) -> float | None:
    """Mean pairwise Jaccard distance of the admitted agents' solved sets (None under two agents)."""
    sets = [solved(n) for n in ranked(nodes)]
    pairs = list(combinations(sets, 2))
    return sum(jaccard_distance(a, b) for a, b in pairs) / len(pairs) if pairs else None


def distinct_sets(nodes: Sequence[Node]) -> int:
    return len({solved(n) for n in ranked(nodes)})


@dataclass
class Snapshot:
    """The archive's diversity after one admission."""

    node_id: str
    admitted: int
    pass_at: dict[str, float | None] = field(default_factory=dict)   # "1", "2", "5", "10", "all"
    coverage: float | None = None
    jaccard: float | None = None
    distinct: int = 0
    alarm: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def snapshot(nodes: Sequence[Node], node_id: str) -> Snapshot:
    return Snapshot(node_id, len(ranked(nodes)),
                    {("all" if k is None else str(k)): pass_at_k(nodes, k) for k in KS},
                    coverage(nodes), mean_jaccard(nodes), distinct_sets(nodes))


def history(nodes: Sequence[Node], window: int = WINDOW) -> list[Snapshot]:
    """One snapshot per admitted node in id order, the archive as it stood with the admitted up to it.

    The same numbers as snapshot() of each prefix, kept up as each agent joins: the union, intersection
    and pairwise sums grow by one agent's share (pairs are summed over distinct solved sets, of which
    there are few), so a run's whole history costs O(agents × distinct sets), not O(agents³)."""
    out: list[Snapshot] = []
    admitted = sorted((n for n in nodes if n.status == "admitted" and n.score is not None), key=lambda n: int(n.id))
    top: list[tuple[float, int, Node]] = []        # the prefix ranked as ranked() ranks it
    ran: set[str] = set()                          # every task an agent of the prefix ran
    hit: set[str] = set()                          # every task one of them solved
    common: set[str] | None = None                 # the tasks all of them ran
    counts: dict[frozenset[str], int] = {}         # agents per distinct solved set
    distance = 0.0                                 # sum of pairwise Jaccard distances
    for i, node in enumerate(admitted):
        mine, tasks = solved(node), set(node.results)
        distance += sum(c * jaccard_distance(mine, other) for other, c in counts.items())
        counts[mine] = counts.get(mine, 0) + 1
        ran |= tasks
        hit |= mine
        common = tasks if common is None else common & tasks
        bisect.insort(top, (-float(node.score), int(node.id), node), key=lambda t: t[:2])
        pass_at = {str(k): pass_at_k([t[2] for t in top[:k]], None) for k in KS if k is not None}
        pass_at["all"] = len(hit & common) / len(common) if common else None
        pairs = (i + 1) * i // 2
        out.append(Snapshot(node.id, i + 1, pass_at, len(hit) / len(ran) if ran else None,
                            distance / pairs if pairs else None, len(counts)))
    for i, snap in enumerate(out):
        snap.alarm = collapse(out[:i + 1], window)
    return out


def alarm_k(admitted: int) -> int | None:
    """The largest k whose top-k is a proper subset of `admitted` agents (the union over every agent can
    only grow on a fixed task set, so it cannot show a collapse)."""
    return next((k for k in (10, 5, 2) if k < admitted), None)


def collapse(snapshots: Sequence[Snapshot], window: int = WINDOW) -> bool:
    """Over the last `window` snapshots: pass@1 rose while pass@k fell, k = alarm_k at the window's start."""
    if window < 2 or len(snapshots) < window:
        return False
    first, last = snapshots[-window], snapshots[-1]
    k = alarm_k(first.admitted)
    if k is None:
        return False
    p1, pk = (first.pass_at.get("1"), last.pass_at.get("1")), (first.pass_at.get(str(k)), last.pass_at.get(str(k)))
    if None in p1 or None in pk:
        return False
    return p1[1] > p1[0] and pk[1] < pk[0]
