"""One simulated run: a world, the real scheduler and policy, a real archive in a temporary directory."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dgm.archive import Archive
from dgm.scheduler.registry import make_policy
from dgm.scheduler.scheduler import Budget, Scheduler
from dgm.scheduler.states import EvalPlan, Evaluate
from dgm.scheduler.store import StateStore
from dgm.scheduler.view import TreeView
from dgm.simulate.executor import SimulatedExecutor
from dgm.simulate.host import SimHost
from dgm.simulate.world import World, WorldParams

STAGES = (10, 40)   # DGM: 10 tasks, then 40 more (50 in all), gate 0.4


@dataclass
class RunResult:
    policy: str
    strategy: str
    seed: int
    evals: np.ndarray          # task evaluations done (smoke runs included) at each trace point
    usd: np.ndarray
    seconds: np.ndarray        # virtual wall time at the trace point
    quality: np.ndarray        # true quality of the policy's pick at that point
    final_quality: float
    best_admitted_quality: float
    picked_best: bool
    utilisation: float
    nodes: int
    admitted: int
    verdicts: dict
    correlation: dict = field(default_factory=dict)   # signal -> Pearson r with descendants' true quality
    host_seconds: float = 0.0
    decide_seconds: float = 0.0
    items: int = 0
    real_seconds: float = 0.0

    def quality_at(self, evals: float) -> float:
        """True quality of the pick once `evals` evaluations were spent (the last pick before that)."""
        i = int(np.searchsorted(self.evals, evals, side="right")) - 1
        return float(self.quality[max(i, 0)])


def plan_for(world: World) -> EvalPlan:
    ids = world.task_ids
    first, second = STAGES
    return EvalPlan(stages=(tuple(ids[:first]), tuple(ids[first:first + second])), smoke=ids[0], gate=0.4)


def simulate(policy: str, *, strategy: str | None = None, params: WorldParams | None = None, seed: int = 0,
             workers: int = 8, max_evals: int | None = None, iterations: int = 80, children: int = 2,
             policy_params: dict | None = None, work_dir: Path | None = None, archive: str = "real",
             trace_every: int = 1) -> RunResult:
    """Run one policy in one world seed; `max_evals` caps task evaluations (dgm also stops at `iterations`)."""
    params = params or WorldParams()
    world = World(params, seed)
    pparams = dict(policy_params or {})
    if policy == "dgm":
        pparams.setdefault("iterations", iterations)
        pparams.setdefault("children_per_iteration", children)
    pol = make_policy(policy, plan_for(world), strategy=strategy, params=pparams, seed=seed)
    with tempfile.TemporaryDirectory(prefix="dgm-sim-") as tmp:
        root = Path(work_dir) if work_dir else Path(tmp)
        return _run(pol, world, root, seed, workers, max_evals, archive, trace_every)


def open_run(root: Path, world: World, archive_kind: str = "real") -> tuple[Any, SimHost, TreeView, StateStore]:
    """The archive, host, view and state store of a simulated run in `root` (created, or reopened)."""
    if archive_kind == "memory":
        from dgm.simulate.memory import MemoryArchive

        archive: Any = MemoryArchive()
        store = StateStore(":memory:", durable=False)
    else:
        if (root / "archive").is_dir():
            archive = Archive.open(root / "archive")
        else:
            seed_tree = root / "seed"
            seed_tree.mkdir(parents=True, exist_ok=True)
            (seed_tree / "agent.json").write_text('{"genome": 0}\n')
            archive = Archive.create(root / "archive", seed_tree)
        store = StateStore(root / "states.sqlite", durable=False)
    host = SimHost(archive, world, root / "work")
    view = TreeView(tasks=world.task_ids)
    for node in archive.nodes():
        view.add_node(node)
    return archive, host, view, store


def _run(policy: Any, world: World, root: Path, seed: int, workers: int, max_evals: int | None,
         archive_kind: str, trace_every: int) -> RunResult:
    started = time.perf_counter()
    archive, host, view, store = open_run(root, world, archive_kind)
    executor = SimulatedExecutor(world)
    trace: list[tuple[int, float, float, float]] = []

    def on_event(s: Scheduler, work: Any, outcome: Any) -> None:
        if isinstance(work, Evaluate) and (view.evals_done % trace_every == 0 or not trace):
            pick = policy.pick(view)
            q = world.node_quality(pick) if pick is not None else float("nan")
            trace.append((view.evals_done, s.stats.usd, executor.clock, q))

    sched = Scheduler(policy, executor, host, store, view, slots=workers, budget=Budget(evals=max_evals),
                      on_event=on_event)
    stats = sched.run()
    store.close()
    final = policy.pick(view)
    if trace and view.evals_done != trace[-1][0]:
        trace.append((view.evals_done, stats.usd, executor.clock, world.node_quality(final) if final else float("nan")))
    admitted = [n.id for n in view.nodes.values() if n.status == "admitted" and n.results]
    best = max((world.node_quality(i) for i in admitted), default=float("nan"))
    final_q = world.node_quality(final) if final is not None else float("nan")
    arr = np.array(trace) if trace else np.zeros((1, 4))
    archive.close()
    return RunResult(
        policy=policy.name, strategy=policy.selector.name, seed=seed, evals=arr[:, 0], usd=arr[:, 1],
        seconds=arr[:, 2], quality=arr[:, 3], final_quality=final_q, best_admitted_quality=best,
        picked_best=final is not None and abs(final_q - best) < 1e-12,
        utilisation=executor.busy_seconds / (workers * executor.clock) if executor.clock else 0.0,
        nodes=len(view.nodes), admitted=len(admitted), verdicts=dict(stats.verdicts),
        correlation=signal_correlation(view, world), host_seconds=stats.host_seconds,
        decide_seconds=stats.decide_seconds, items=stats.items, real_seconds=time.perf_counter() - started)


def signal_correlation(view: TreeView, world: World) -> dict[str, float]:
    """Pearson r between each selection signal of a node and the best true quality among its admitted
    descendants (nodes that have any): the node's own score (DGM) and its clade estimate (HGM)."""
    from dgm.selection import clade_counts

    nodes = view.node_list()
    kids: dict[str, list[str]] = {}
    for n in nodes:
        if n.parent_id is not None:
            kids.setdefault(n.parent_id, []).append(n.id)
    clade = clade_counts(nodes)
    own, cl, truth = [], [], []
    for n in nodes:
        if n.status != "admitted" or not n.results:
            continue
        best, stack = None, list(kids.get(n.id, ()))
        while stack:
            c = stack.pop()
            stack.extend(kids.get(c, ()))
            node = view.nodes[c]
            if node.status == "admitted" and node.results:
                q = world.node_quality(c)
                best = q if best is None else max(best, q)
        if best is None:
            continue
        s, f = clade[n.id]
        own.append(float(n.score))
        cl.append((1 + s) / (2 + s + f))
        truth.append(best)
    if len(truth) < 3:
        return {}
    out = {}
    for name, sig in (("score", own), ("clade", cl)):
        if np.std(sig) > 0 and np.std(truth) > 0:
            out[name] = float(np.corrcoef(sig, truth)[0, 1])
    return out
