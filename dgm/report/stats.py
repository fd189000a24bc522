"""Summary statistics of a run: node counts, rejections by reason, the best agent, costs."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

from dgm.report.layout import sort_key


@dataclass
class RunStats:
    """The numbers at the top of a report."""

    nodes: int
    admitted: int
    pending: int
    rejected: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    best_id: str | None = None
    best_score: float | None = None
    best_resolved: int = 0
    best_evaluated: int = 0
    root_score: float | None = None
    generations: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0          # the run's recorded model calls when known, else the nodes' sum
    nodes_cost_usd: float = 0.0
    wall_seconds: float = 0.0
    calls_tokens: int | None = None  # from llm_calls.jsonl: also counts diagnosis calls no node is charged for


def best_node(nodes: Sequence[Any]) -> Any | None:
    """The admitted node with the highest score; ties go to more tasks evaluated, then the older node."""
    scored = [n for n in nodes if n.status == "admitted" and n.score is not None]
    if not scored:
        return None
    # Sort ascending by creation, then take the max: max() keeps the first of equal keys.
    scored.sort(key=lambda n: sort_key(n.id))
    return max(scored, key=lambda n: (n.score, len(n.results)))


def rejection_reason(status: str) -> str:
    """The verdict of a rejected status ("rejected:forbidden name in tree: HEAD" -> "forbidden name in tree");
    words outside the vocabulary (an archive edited by hand) read as their leading words."""
    from dgm.scheduler.verdicts import verdict_of

    verdict = verdict_of(status)
    if verdict is not None:
        return verdict.value
    reason = status.split(":", 1)[1] if ":" in status else status
    return reason.split(":", 1)[0].strip() or "unknown"


def run_stats(nodes: Sequence[Any], *, calls_cost: float | None = None,
              calls_tokens: int | None = None) -> RunStats:
    """Count and sum over the nodes; `calls_*` are totals from the run's llm_calls.jsonl when present."""
    reasons = Counter(rejection_reason(n.status) for n in nodes if n.status.startswith("rejected"))
    best = best_node(nodes)
    root = next((n for n in nodes if n.parent_id is None), None)
    tokens_in = sum(int(n.tokens_in or 0) for n in nodes)
    tokens_out = sum(int(n.tokens_out or 0) for n in nodes)
    nodes_cost = sum(float(n.cost_usd or 0.0) for n in nodes)
    stats = RunStats(
        nodes=len(nodes),
        admitted=sum(1 for n in nodes if n.status == "admitted"),
        pending=sum(1 for n in nodes if n.status == "pending"),
        rejected=sum(reasons.values()),
        rejected_by_reason=dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        best_id=best.id if best else None,
        best_score=best.score if best else None,
        best_resolved=sum(1 for r in best.results.values() if isinstance(r, dict) and r.get("resolved")) if best else 0,
        best_evaluated=len(best.results) if best else 0,
        root_score=root.score if root else None,
        generations=max((int(n.generation) for n in nodes), default=0),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=calls_cost if calls_cost is not None else nodes_cost,
        nodes_cost_usd=nodes_cost,
        wall_seconds=sum(float(n.wall_seconds or 0.0) for n in nodes),
    )
    stats.calls_tokens = calls_tokens
    return stats
