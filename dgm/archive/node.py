"""The record of one agent variant in the archive."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from dgm.errors import BadInput

ADMITTED = "admitted"
PENDING = "pending"
REJECTED = "rejected"


def check_status(status: str) -> str:
    """Return `status` if it is "admitted", "pending" or "rejected:<reason>"; BadInput otherwise."""
    if status in (ADMITTED, PENDING):
        return status
    if status.startswith(REJECTED + ":") and status[len(REJECTED) + 1 :].strip():
        return status
    raise BadInput(
        f"invalid status {status!r}",
        hint="use admitted, pending or rejected:<reason>",
    )


def score_of(results: dict[str, dict]) -> float | None:
    """alpha_i: resolved / evaluated over all task results; None when nothing was evaluated."""
    if not results:
        return None
    resolved = sum(1 for r in results.values() if r.get("resolved"))
    return resolved / len(results)


@dataclass
class Node:
    """One agent variant: its commit, place in the lineage, verdict, results and costs."""

    id: str
    commit: str
    parent_id: str | None
    generation: int
    status: str
    diagnosis: dict | None = None
    improvement_task: str | None = None
    results: dict[str, dict] = field(default_factory=dict)
    stage_scores: dict[str, float] = field(default_factory=dict)
    score: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    wall_seconds: float = 0.0
    created_at: str = ""
    updated_at: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def admitted(self) -> bool:
        return self.status == ADMITTED

    @property
    def rejected(self) -> bool:
        return self.status.startswith(REJECTED + ":")

    @property
    def resolved_count(self) -> int:
        return sum(1 for r in self.results.values() if r.get("resolved"))

    @property
    def evaluated_count(self) -> int:
        return len(self.results)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON-able data (nested dicts are shared, not copied)."""
        return {name: getattr(self, name) for name in FIELD_NAMES}


FIELD_NAMES = tuple(f.name for f in fields(Node))
