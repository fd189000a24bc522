"""The run's policy and evaluation plan, from its configuration (`[policy]`, `dataset`, `evolve`)."""

from __future__ import annotations

from typing import Any

from dgm.evolve.config import EvolveConfig
from dgm.scheduler.registry import make_policy
from dgm.scheduler.states import EvalPlan


def eval_plan(config: EvolveConfig, task_plan: Any) -> EvalPlan:
    """The gated stages of the dgm plan and the gate's verifiers (open policies keep the smoke task, the gate
    and its verifiers)."""
    return EvalPlan(stages=tuple(tuple(ids) for ids in task_plan.stages), smoke=task_plan.smoke,
                    gate=config.dataset.gate, below_gate=config.dataset.below_gate,
                    verifiers=tuple(config.gate.verifiers))


def run_policy(config: EvolveConfig, plan: EvalPlan) -> Any:
    """The configured policy over the configured selection strategy; BadInput for an unknown name or parameter."""
    p, e = config.policy, config.evolve
    params = dict(p.params)
    if p.name == "dgm":
        params.setdefault("iterations", e.iterations)
        params.setdefault("children_per_iteration", e.children_per_iteration)
        return make_policy("dgm", plan, strategy=config.selection.strategy, params=params, seed=config.run.seed,
                           strategy_params=config.selection.params)
    params.setdefault("max_children", e.iterations * e.children_per_iteration)
    return make_policy(p.name, plan, strategy=p.strategy or None, params=params, seed=config.run.seed)


def children_per_iteration(config: EvolveConfig) -> int:
    """How child keys map to (iteration, slot): the dgm policy's k; one child an "iteration" otherwise."""
    return config.evolve.children_per_iteration if config.policy.name == "dgm" else 1
