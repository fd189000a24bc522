"""Predictions per self-edit: the task ids a diagnosis expects the change to fix and those it may
break, scored against what the child's evaluation showed (AHE, arXiv 2604.25850)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

MAX_IDS = 50


def id_list(value: Any) -> list[str]:
    """A diagnosis field as a short list of task ids; anything else an empty list (predictions are optional)."""
    if not isinstance(value, list):
        return []
    return [v.strip()[:200] for v in value if isinstance(v, str) and v.strip()][:MAX_IDS]


def _resolved(results: Mapping[str, Any], iid: str) -> bool:
    r = results.get(iid)
    return bool(isinstance(r, Mapping) and r.get("resolved"))


@dataclass
class PredictionScore:
    """What changed between parent and child on the tasks both ran, against what the diagnosis said."""

    fixed: list[str]
    broken: list[str]
    expected_fix: list[str]
    may_break: list[str]
    fix_scored: list[str]         # the predicted fixes the child ran (only those can be scored)
    fix_precision: float | None   # of the predicted fixes, the share that were fixed
    fix_recall: float | None      # of the fixes, the share predicted
    break_recall: float | None    # of the regressions, the share predicted

    def to_dict(self) -> dict:
        return asdict(self)


def score(parent: Mapping[str, Any], child: Mapping[str, Any], expected_fix: list[str],
          may_break: list[str]) -> PredictionScore:
    common = set(parent) & set(child)
    fixed = sorted(i for i in common if _resolved(child, i) and not _resolved(parent, i))
    broken = sorted(i for i in common if _resolved(parent, i) and not _resolved(child, i))
    # A prediction about a task the child did not run (a stage it never reached) cannot be scored.
    fix_pred = [i for i in expected_fix if i in common]
    hits = len(set(fix_pred) & set(fixed))
    return PredictionScore(fixed, broken, list(expected_fix), list(may_break), fix_pred,
                           hits / len(fix_pred) if fix_pred else None,
                           hits / len(fixed) if fixed else None,
                           len(set(may_break) & set(broken)) / len(broken) if broken else None)
