"""The policies by name: what a config's `[policy]` table and `dgm simulate --policies` choose from."""

from __future__ import annotations

from typing import Any

from dgm.errors import BadInput
from dgm.scheduler.policies import DgmPolicy, HgmPolicy
from dgm.scheduler.sequential import SequentialPolicy
from dgm.scheduler.states import EvalPlan
from dgm.scheduler.strategies import make_strategy

POLICIES = ("dgm", "hgm", "sequential")
DEFAULT_STRATEGY = {"dgm": "score_child_prop", "hgm": "hgm_thompson", "sequential": "lineage"}


def make_policy(name: str, plan: EvalPlan, *, strategy: str | None = None, params: dict | None = None,
                seed: int = 0, strategy_params: dict | None = None) -> Any:
    """Build the policy called `name` over a selection strategy; BadInput names the valid choices."""
    if name not in POLICIES:
        raise BadInput(f"unknown policy {name!r}", hint=f"choose one of {', '.join(POLICIES)}")
    selector = make_strategy(strategy or DEFAULT_STRATEGY[name], **(strategy_params or {}))
    params = dict(params or {})
    try:
        if name == "dgm":
            return DgmPolicy(selector, plan, seed=seed, **params)
        if name == "hgm":
            return HgmPolicy(selector, plan, seed=seed, **params)
        return SequentialPolicy(selector, plan, seed=seed, **params)
    except TypeError as exc:
        raise BadInput(f"bad parameters for policy {name!r}: {exc}",
                       hint="see docs/scheduler.md for each policy's parameters") from None


def policy_from_table(table: dict | None, plan: EvalPlan, *, seed: int = 0) -> Any:
    """A policy from a config's `[policy]` table: name (default dgm), strategy, and the rest as parameters."""
    data = dict(table or {})
    name = str(data.pop("name", "dgm"))
    strategy = data.pop("strategy", None)
    strategy_params = data.pop("strategy_params", None)
    return make_policy(name, plan, strategy=strategy, params=data, seed=seed, strategy_params=strategy_params)
