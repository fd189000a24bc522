"""The task side of a run: instances, the staged subsets, and each task's built environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dgm.errors import BenchError, ConfigError
from dgm.evolve.config import EvolveConfig


@dataclass
class TaskPlan:
    """Instances by id, the ids of each stage (1..n), and the smoke task of stage 0."""

    instances: dict[str, Any]
    stages: list[list[str]]
    smoke: str

    def stage_of(self, instance_id: str) -> int:
        for i, ids in enumerate(self.stages, start=1):
            if instance_id in ids:
                return i
        return 0

    def needed(self) -> list[str]:
        ids = [iid for stage in self.stages for iid in stage]
        return ids + ([self.smoke] if self.smoke not in ids else [])


def plan_tasks(config: EvolveConfig) -> TaskPlan:
    """Load the dataset and cut it into stages; ConfigError for ids or files that do not exist."""
    from dgm.bench.instances import load_instances

    rows = load_instances(Path(config.dataset.path))
    if not rows:
        raise ConfigError(f"dataset.path {config.dataset.path} holds no task instances")
    instances = {r.instance_id: r for r in rows}
    order = [r.instance_id for r in rows]
    used: set[str] = set()
    stages: list[list[str]] = []
    for i, spec in enumerate(config.dataset.stages):
        if isinstance(spec, int):
            ids = [iid for iid in order if iid not in used][:spec]
            if len(ids) < spec:
                raise ConfigError(f"dataset.stages[{i}] = {spec}: only {len(ids)} tasks are left in "
                                  f"{config.dataset.path}", hint="use smaller stages or a larger dataset")
        else:
            ids = _read_ids(spec, i) if isinstance(spec, str) else [str(x) for x in spec]
            unknown = [iid for iid in ids if iid not in instances]
            if unknown:
                raise ConfigError(f"dataset.stages[{i}]: unknown instance id(s) {', '.join(unknown[:5])}",
                                  hint=f"ids must be in {config.dataset.path}")
            ids = [iid for iid in ids if iid not in used]
        if not ids:
            raise ConfigError(f"dataset.stages[{i}] selects no new task")
        used.update(ids)
        stages.append(ids)
    from dgm.science.heldout import check

    check(config, instances, stages)  # a held-out id unknown or also in a stage fails here, before any run
    smoke = config.dataset.smoke or stages[0][0]
    if smoke not in instances:
        raise ConfigError(f"dataset.smoke: unknown instance id {smoke}")
    return TaskPlan(instances, stages, smoke)


def _read_ids(spec: str, i: int) -> list[str]:
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"dataset.stages[{i}] = {spec!r}: no such file of instance ids")
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def environments(config: EvolveConfig, plan: TaskPlan, run_id: str, log: Callable[[str], None]) -> dict[str, Any]:
    """The validated environment of every task the run needs; built first when dataset.build allows."""
    from dgm.bench import BenchStore

    store = BenchStore(Path(config.dataset.store)) if config.dataset.store else BenchStore()
    out: dict[str, Any] = {}
    missing: list[str] = []
    for iid in plan.needed():
        env = store.get(iid)
        if env is None or not str(env.status).startswith("validated"):
            missing.append(iid)
        else:
            out[iid] = env
    if missing and not config.dataset.build:
        raise BenchError(f"{len(missing)} task environment(s) are not built: {', '.join(missing[:5])}",
                         hint="run `dgm bench build` first, or set dataset.build = true")
    from dgm.bench.official import EnvironmentOptions

    options = EnvironmentOptions(config.dataset.environments, config.dataset.image_namespace,
                                 config.dataset.image_tag)
    for iid in missing:
        log(f"building the environment of {iid}")
        env = _build(store, plan.instances[iid], run_id, log, options)
        if not str(env.status).startswith("validated"):
            raise BenchError(f"the environment of {iid} did not validate: {env.status}",
                             hint="drop this task from the stages or fix its recipe")
        out[iid] = env
    log("task environments: " + ", ".join(
        f"{iid} {e.notes.get('environment') or ('official' if e.notes.get('kind') == 'official' else 'rebuild')}"
        for iid, e in out.items()))
    return out


def _build(store: Any, instance: Any, run_id: str, log: Callable[[str], None], options: Any = None) -> Any:
    """Build and validate one instance with the bench's builder (it records the verdict in the store)."""
    from dgm.bench import build_instance

    env = build_instance(instance, store, run_id=run_id, options=options)
    log(f"environment of {instance.instance_id}: {env.status} [{env.notes.get('environment', 'rebuild')}]"
        + (f" ({env.detail})" if env.detail else ""))
    return env
