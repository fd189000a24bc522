"""Where an evolve run's wall time goes, per policy and worker count (printed, not asserted).

Runs the offline demo (scripted model, toy tasks, real Docker) from scratch once per (policy,
workers), and prints: children made per minute, task runs per minute, worker utilisation (busy
worker-seconds over wall x workers), where the busy time went (model calls, sandboxes, tests),
and the scheduler's own overhead (time in the policy, transitions and state store, and in the
host's archive writes), per work item.

    python scripts/bench_evolve.py [--iterations 2] [--stages '[1, 2]'] [--policies dgm,hgm]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dgm.evolve import options, workers  # noqa: E402
from dgm.evolve.items import CheckOutcome, EvalItem, SelfModifyItem  # noqa: E402


class Probe:
    """Wall-clock start and end of every work item a worker ran."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[float, float, object, object]] = []
        self._real = workers.perform

    def __enter__(self) -> "Probe":
        probe, real = self, self._real

        def perform(item, context):
            t0 = time.time()
            out = real(item, context)
            with probe.lock:
                probe.items.append((t0, time.time(), item, out))
            return out

        workers.perform = perform
        return self

    def __exit__(self, *exc: object) -> None:
        workers.perform = self._real


def run_once(policy: str, n_workers: int, iterations: int, stages: str, store: Path) -> dict:
    from dgm.evolve.loop import Evolution
    from dgm.evolve.session import open_session

    run_dir = Path(tempfile.mkdtemp(prefix="dgm-bench-evolve-")) / "run"
    config = options.resolve(REPO / "configs" / "offline-demo.toml", [
        f'run.dir="{run_dir}"', f'dataset.store="{store}"', f"dataset.stages={stages}",
        f"evolve.workers={n_workers}", f"evolve.iterations={iterations}", "budget.usd=100",
        f'policy.name="{policy}"', 'evolve.cache="off"'])
    session = open_session(config, live=False)
    with Probe() as probe:
        try:
            t0 = time.time()
            evo = Evolution(session)
            summary = evo.run()
            wall = time.time() - t0
        finally:
            session.close()
    stats = evo.scheduler.stats
    calls = [json.loads(line) for line in (run_dir / "llm_calls.jsonl").read_text().splitlines() if line]
    busy = sum(t1 - t0 for t0, t1, _, _ in probe.items)
    agent_model = sum(c["latency_s"] for c in calls if c.get("role") != "diagnose")
    agent = sum(out.seconds if isinstance(it, SelfModifyItem) else out.agent.seconds
                for _, _, it, out in probe.items if isinstance(it, (SelfModifyItem, EvalItem)))
    test = sum(out.seconds for _, _, _, out in probe.items if isinstance(out, CheckOutcome))
    test += sum(out.grade_seconds for _, _, it, out in probe.items if isinstance(it, EvalItem))
    return {"policy": policy, "workers": n_workers, "wall": wall, "busy": busy,
            "children": sum(isinstance(it, SelfModifyItem) for _, _, it, _ in probe.items),
            "task_runs": sum(isinstance(it, EvalItem) for _, _, it, _ in probe.items),
            "model": sum(c["latency_s"] for c in calls), "sandbox": max(0.0, agent - agent_model), "test": test,
            "decide": stats.decide_seconds, "host": stats.host_seconds, "items": stats.items,
            "admitted": summary.admitted, "rejected": summary.rejected,
            "best": summary.best[1] if summary.best else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--stages", default="[1, 2]")
    parser.add_argument("--policies", default="dgm,hgm", help="comma-separated policies (dgm, hgm, sequential)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args()
    store = Path(tempfile.gettempdir()) / "dgm-bench-evolve-store"
    results = [run_once(p, int(w), args.iterations, args.stages, store)
               for p in args.policies.split(",") for w in args.workers.split(",")]
    print(f"\nscripted model, toy tasks, stages {args.stages}, {args.iterations} iterations of 2 children, "
          f"cache off\n")
    print(f"{'policy':>10} {'workers':>7} {'wall s':>7} {'children/min':>12} {'task runs/min':>13} {'util':>5} "
          f"{'model s':>7} {'sandbox s':>9} {'test s':>7} {'sched ms/item':>13} {'host ms/item':>12} {'best':>5}")
    for r in results:
        per_min = 60.0 / r["wall"]
        util = r["busy"] / (r["wall"] * r["workers"])
        items = max(1, r["items"])
        best = f"{r['best']:.2f}" if r["best"] is not None else "-"
        print(f"{r['policy']:>10} {r['workers']:>7} {r['wall']:>7.1f} {r['children'] * per_min:>12.2f} "
              f"{r['task_runs'] * per_min:>13.1f} {util:>5.2f} {r['model']:>7.2f} {r['sandbox']:>9.1f} "
              f"{r['test']:>7.1f} {1000 * r['decide'] / items:>13.2f} {1000 * r['host'] / items:>12.1f} {best:>5}")
    print("\nutil: busy worker-seconds / (wall x workers); sched: policy, transitions, state store; host: "
          "archive writes, patch application, artifacts (both on the loop thread, per work item)")


if __name__ == "__main__":
    main()
