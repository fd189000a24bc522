"""Verification quality of the model's own P(patch resolves the issue) against the hidden tests, and the
generation–verification gap (Song et al. 2025, "Mind the Gap")."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Sequence

Pair = tuple[float, bool]  # (the model's probability, resolved by the hidden tests)
BOOTSTRAP = 1000
BINS = 5


def accuracy(pairs: Sequence[Pair], threshold: float = 0.5) -> float | None:
    """Share of runs where "p ≥ threshold" agrees with the hidden tests."""
    return sum((p >= threshold) == y for p, y in pairs) / len(pairs) if pairs else None


def brier(pairs: Sequence[Pair]) -> float | None:
    """Mean squared error of the probability against the 0/1 outcome (0 is perfect, 0.25 a coin)."""
    return sum((p - float(y)) ** 2 for p, y in pairs) / len(pairs) if pairs else None


def auroc(pairs: Sequence[Pair]) -> float | None:
    """P(a resolved run gets a higher p than an unresolved one), ties counting half (Mann–Whitney);
    None without both kinds of run."""
    pos = [p for p, y in pairs if y]
    neg = [p for p, y in pairs if not y]
    if not pos or not neg:
        return None
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def curve(pairs: Sequence[Pair], bins: int = BINS) -> list[dict]:
    """Reliability diagram: per probability bin, the mean p, the observed resolve rate and the count."""
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [(p, y) for p, y in pairs if lo <= p < hi or (b == bins - 1 and p == 1.0)]
        if inside:
            out.append({"lo": lo, "hi": hi, "n": len(inside), "mean_p": sum(p for p, _ in inside) / len(inside),
                        "resolved": sum(y for _, y in inside) / len(inside)})
    return out


def gap(pairs: Sequence[Pair], threshold: float = 0.5) -> float | None:
    """Resolve rate of the patches the model accepts (p ≥ threshold) minus the overall resolve rate."""
    accepted = [y for p, y in pairs if p >= threshold]
    if not pairs or not accepted:
        return None
    return sum(accepted) / len(accepted) - sum(y for _, y in pairs) / len(pairs)


def bootstrap_ci(pairs: Sequence[Pair], n: int = BOOTSTRAP, seed: int = 0, level: float = 0.95) -> tuple | None:
    """Percentile bootstrap interval of the gap over runs resampled with replacement (seeded)."""
    if not pairs:
        return None
    rng = random.Random(seed)
    values = sorted(v for v in (gap([pairs[rng.randrange(len(pairs))] for _ in pairs]) for _ in range(n))
                    if v is not None)
    if not values:
        return None
    tail = (1.0 - level) / 2
    return values[int(tail * (len(values) - 1))], values[int(round((1 - tail) * (len(values) - 1)))]


@dataclass
class Quality:
    """Generation accuracy, verification quality and the gap over one group of task runs."""

    runs: int
    resolve_rate: float | None
    accuracy: float | None
    auroc: float | None
    brier: float | None
    gap: float | None
    gap_ci: tuple | None

    def to_dict(self) -> dict:
        return asdict(self)


def quality(pairs: Sequence[Pair], *, seed: int = 0) -> Quality:
    rate = sum(y for _, y in pairs) / len(pairs) if pairs else None
    return Quality(len(pairs), rate, accuracy(pairs), auroc(pairs), brier(pairs), gap(pairs),
                   bootstrap_ci(pairs, seed=seed))
