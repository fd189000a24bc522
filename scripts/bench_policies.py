"""Scheduling policies compared in the simulated world (printed, never asserted).

Seeds 0..N-1 are used here and nowhere else: every policy parameter was tuned on seeds 1000+.
For each seed, dgm runs its whole schedule (80 iterations x 2 children, gated 10 -> 50 stages);
hgm and sequential then get exactly the task evaluations dgm spent in that seed (smoke runs
counted everywhere). Printed: the true quality of each final pick at that spend, how often ours
beats dgm's pick, the evaluations ours needs to first reach -- and to keep -- an agent at least as
good as dgm's final pick, worker utilisation at W workers, the same comparison in perturbed
worlds, the scheduler's own overhead per work item on a 10k-node tree, and the real archive's
share of a simulated run's time.

    python scripts/bench_policies.py [--seeds 100] [--sens-seeds 20] [--workers 8] [--cache FILE]

`--cache FILE` keeps each run's trace keyed by policy, world, seed, W, budget and a digest of the
source files the run depends on: a run is deterministic, so a rerun after changing only our policy
recomputes only our policy's runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dgm.simulate.runner import RunResult, simulate  # noqa: E402
from dgm.simulate.world import WorldParams  # noqa: E402

OURS = "sequential"
CACHE: dict | None = None
CACHE_PATH: Path | None = None
COMMON = ["dgm/scheduler/policies.py", "dgm/scheduler/scheduler.py", "dgm/scheduler/transitions.py",
          "dgm/scheduler/view.py", "dgm/scheduler/states.py", "dgm/selection.py",
          "dgm/simulate/world.py", "dgm/simulate/executor.py", "dgm/simulate/host.py", "dgm/simulate/runner.py",
          "dgm/simulate/memory.py"]
OWN = {OURS: ["dgm/scheduler/sequential.py", "dgm/scheduler/lineage.py", "dgm/scheduler/strategies.py",
              "dgm/scheduler/registry.py"]}


def _digest(policy: str) -> str:
    h = hashlib.sha256()
    for rel in COMMON + OWN.get(policy, []):
        h.update((REPO / rel).read_bytes())
    return h.hexdigest()[:16]


class Cached:
    """The parts of a RunResult the comparison reads (a run restored from the cache)."""

    def __init__(self, d: dict) -> None:
        self.__dict__.update(d)
        self.evals, self.quality = np.array(d["evals"]), np.array(d["quality"])

    quality_at = RunResult.quality_at


def run(policy: str, params: WorldParams, seed: int, workers: int, max_evals: int | None, trace_every: int):
    """One simulated run, from the cache when the same run (same sources) was done before."""
    key = json.dumps([policy, repr(params), seed, workers, max_evals, trace_every, _digest(policy)])
    if CACHE is not None and key in CACHE:
        return Cached(CACHE[key])
    r = simulate(policy, params=params, seed=seed, workers=workers, max_evals=max_evals, archive="memory",
                 trace_every=trace_every)
    if CACHE is not None:
        CACHE[key] = dict(evals=r.evals.tolist(), quality=r.quality.tolist(), final_quality=r.final_quality,
                          utilisation=r.utilisation, correlation=r.correlation, picked_best=r.picked_best)
        CACHE_PATH.write_text(json.dumps(CACHE))
    return r


def spend_to_match(run: RunResult, target: float) -> tuple[float, float]:
    """(first evaluation count whose pick is >= target, count after which the pick stays >= target); inf if never."""
    ok = run.quality >= target - 1e-12
    if not ok.any():
        return float("inf"), float("inf")
    first = float(run.evals[int(np.argmax(ok))])
    if not ok[-1]:
        return first, float("inf")
    last_bad = np.flatnonzero(~ok)
    stays = float(run.evals[last_bad[-1] + 1]) if len(last_bad) else float(run.evals[0])
    return first, stays


def compare(params: WorldParams, seeds: range, workers: int, label: str, *, full: bool = False) -> dict:
    rows = []
    started = time.perf_counter()
    for seed in seeds:
        d = run("dgm", params, seed, workers, None, 5)
        n = int(d.evals[-1])
        h = run("hgm", params, seed, workers, n, 5)
        o = run(OURS, params, seed, workers, n, 1)
        target = d.final_quality
        rows.append(dict(n=n, dgm=target, hgm=h.quality_at(n), ours=o.quality_at(n),
                         match_ours=spend_to_match(o, target), match_hgm=spend_to_match(h, target),
                         util=(d.utilisation, h.utilisation, o.utilisation),
                         corr=(d.correlation, h.correlation, o.correlation),
                         best=(d.picked_best, h.picked_best, o.picked_best), seed0=d.quality[0]))
    q = {k: np.array([r[k] for r in rows]) for k in ("dgm", "hgm", "ours", "n", "seed0")}
    wins = float(np.mean(q["ours"] > q["dgm"]))
    first_o = np.array([r["match_ours"][0] for r in rows])
    stay_o = np.array([r["match_ours"][1] for r in rows])
    first_h = np.array([r["match_hgm"][0] for r in rows])
    stay_h = np.array([r["match_hgm"][1] for r in rows])
    print(f"\n== {label}: {len(rows)} seeds, W={workers} ({time.perf_counter() - started:.0f}s) ==")
    from dgm.simulate.world import World, disagreement

    agree = np.mean([disagreement(World(params, s)) for s in seeds])
    print(f"dgm whole run: {q['n'].mean():.0f} task evaluations on average (smoke runs included); "
          f"seed quality {q['seed0'].mean():.3f}; two runs of one agent disagree on {100 * agree:.0f}% of tasks")
    print(f"true quality of the final pick at dgm's spend: dgm {q['dgm'].mean():.3f}  hgm {q['hgm'].mean():.3f}  "
          f"{OURS} {q['ours'].mean():.3f}")
    print(f"  {OURS} - dgm = {q['ours'].mean() - q['dgm'].mean():+.3f} (target >= +0.15); "
          f"{OURS} - hgm = {q['ours'].mean() - q['hgm'].mean():+.3f} (target >= +0.05)")
    print(f"  {OURS} beats dgm's pick in {100 * wins:.0f}% of seeds (target >= 85%); "
          f"hgm beats it in {100 * float(np.mean(q['hgm'] > q['dgm'])):.0f}%")
    for name, first, stay in ((OURS, first_o, stay_o), ("hgm", first_h, stay_h)):
        reached = np.isfinite(stay)
        ratio = q["n"][reached] / stay[reached]
        print(f"  spend to match dgm's final pick, {name}: reached and kept in {100 * reached.mean():.0f}% of seeds; "
              f"median first hit {np.median(np.where(np.isfinite(first), first, np.nan)[np.isfinite(first)]) if np.isfinite(first).any() else float('nan'):.0f}, "
              f"median stays-there {np.median(stay[reached]) if reached.any() else float('nan'):.0f} evaluations; "
              f"dgm's run / stays-there: median {np.median(ratio) if reached.any() else float('nan'):.2f}x")
    if full:
        u = np.array([r["util"] for r in rows])
        print(f"worker utilisation at W={workers}: dgm {100 * u[:, 0].mean():.0f}%  hgm {100 * u[:, 1].mean():.0f}%  "
              f"{OURS} {100 * u[:, 2].mean():.0f}%")
        b = np.array([r["best"] for r in rows], dtype=float)
        print(f"final pick is the truly best admitted agent: dgm {100 * b[:, 0].mean():.0f}%  "
              f"hgm {100 * b[:, 1].mean():.0f}%  {OURS} {100 * b[:, 2].mean():.0f}%")
        for i, name in enumerate(("dgm", "hgm", OURS)):
            sc = [r["corr"][i]["score"] for r in rows if "score" in r["corr"][i]]
            cl = [r["corr"][i]["clade"] for r in rows if "clade" in r["corr"][i]]
            print(f"correlation with the best true quality among a node's descendants, {name} tree: "
                  f"own score {np.mean(sc):.3f}, clade estimate {np.mean(cl):.3f} ({len(sc)} runs)")
    return dict(q=q, wins=wins)


def overhead(nodes: int = 10_000) -> None:
    """The scheduler's own cost per work item (policy decision, transition, state row) on a big tree."""
    from dgm.archive.node import Node
    from dgm.evolve.items import AgentOutcome, EvalOutcome
    from dgm.scheduler.registry import make_policy
    from dgm.scheduler.states import ChildState, Phase
    from dgm.scheduler.store import StateStore
    from dgm.scheduler.transitions import transition
    from dgm.scheduler.view import TreeView
    from dgm.simulate.runner import plan_for
    from dgm.simulate.world import World

    world = World(WorldParams(), 0)
    rng = np.random.default_rng(0)
    for name in ("hgm", OURS, "dgm"):
        view = TreeView(tasks=world.task_ids, slots=8)
        for i in range(nodes):
            parent = None if i == 0 else str(int(rng.integers(0, i)))
            k = int(rng.integers(1, 20))
            results = {t: {"resolved": bool(rng.random() < 0.3)} for t in world.task_ids[:k]}
            node = Node(id=str(i), commit="", parent_id=parent, generation=0, status="admitted", results=results,
                        score=sum(r["resolved"] for r in results.values()) / k)
            view.add_node(node)
            phase = Phase.OPEN if name != "dgm" else Phase.EVALUATING
            view.put_state(ChildState(f"c{i}", parent, phase=phase, node_id=str(i), root=i == 0,
                                      todo=("t0059",) if name == "dgm" else ()))
        policy = make_policy(name, plan_for(world), seed=0)
        store = StateStore(":memory:", durable=False)
        out = EvalOutcome("t0059", 1, AgentOutcome("submitted", "p", None, {}, "", 1.0), resolved=True, graded=True)
        reps = 300
        view.evals_done = 20_000   # a run that far along: 20000 ** 0.6 < 10000 nodes, so slots probe
        policy.next(view)          # warm-up: a real run indexes the tree's results as they arrive
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            view.evals_done += 1   # one more result per item: estimates refresh at their real pace
            policy.next(view)
            state = view.states["c5"]
            nxt, _ = transition(state, out, policy.plan)
            store.save(nxt)
        per, cpu = (time.perf_counter() - t0) / reps, (time.process_time() - c0) / reps
        print(f"scheduler overhead per work item at {nodes} nodes, {name}: {1000 * per:.3f} ms wall, "
              f"{1000 * cpu:.3f} ms CPU (policy decision + transition + state row; target < 1 ms; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        if name == "dgm":
            t0 = time.perf_counter()
            policy.selector.select(view.node_list(), view.children, 2, __import__("random").Random(0))
            print(f"  dgm's parent selection, once per iteration, at {nodes} nodes: "
                  f"{1000 * (time.perf_counter() - t0):.1f} ms")


def archive_share(workers: int) -> None:
    """How much of a simulated run the real archive's git and SQLite writes take."""
    for kind in ("memory", "real"):
        r = simulate("hgm", seed=0, workers=workers, max_evals=1500, archive=kind, trace_every=50)
        print(f"hgm, 1500 evaluations, {kind} archive: {r.real_seconds:.1f}s, {r.items / r.real_seconds:.0f} work "
              f"items/s; archive+host {r.host_seconds:.1f}s, scheduler+policy {r.decide_seconds:.1f}s")


def variants(base: WorldParams) -> list[tuple[str, WorldParams]]:
    """The perturbed worlds of the sensitivity table."""
    return [
        ("mutation size halved", base.but(mutation_sd=base.mutation_sd / 2, shared_mutation_sd=base.shared_mutation_sd / 2)),
        ("mutation size doubled", base.but(mutation_sd=base.mutation_sd * 2, shared_mutation_sd=base.shared_mutation_sd * 2)),
        ("broken share 0.3", base.but(broken=0.3)),
        ("broken share 0.7", base.but(broken=0.7)),
        ("noisier outcomes (task_spread 1.2)", base.but(task_spread=1.2)),
        ("less noisy outcomes (task_spread 3.5)", base.but(task_spread=3.5)),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=100, help="held-out world seeds 0..N-1 of the default world")
    ap.add_argument("--sens-seeds", type=int, default=20,
                    help="seeds per perturbed world of the sensitivity table (mutation size halved and doubled, "
                         "broken share 0.3 and 0.7, noisier and less noisy outcomes); 0 skips it")
    ap.add_argument("--workers", type=int, default=8, help="executor slots W")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: main,sens,overhead,archive")
    ap.add_argument("--cache", type=Path, default=None, metavar="FILE",
                    help="reuse runs kept in FILE (JSON; created) when policy, world, seed and sources match")
    args = ap.parse_args()
    global CACHE, CACHE_PATH
    if args.cache is not None:
        CACHE_PATH = args.cache
        CACHE = json.loads(args.cache.read_text()) if args.cache.exists() else {}
    skip = set(args.skip.split(","))
    base = WorldParams()
    print(f"bench_policies: {args.seeds} seeds (0..{args.seeds - 1}), sensitivity {args.sens_seeds} seeds, "
          f"W={args.workers}, pid {os.getpid()}")
    if "main" not in skip:
        compare(base, range(args.seeds), args.workers, "default world", full=True)
    if "sens" not in skip and args.sens_seeds > 0:
        for label, params in variants(base):
            compare(params, range(args.sens_seeds), args.workers, label)
    if "overhead" not in skip:
        print()
        overhead()
    if "archive" not in skip:
        print()
        archive_share(args.workers)


if __name__ == "__main__":
    main()
