"""Where an evolve iteration's wall time goes, and throughput with 1 and 2 workers (printed, not asserted).

Runs the offline demo (scripted model, toy tasks, real Docker) twice from scratch, once per worker
count, and splits each iteration's wall time into model time (the ledger's call seconds), sandbox
time (agent runs minus their model time), test time (stage-0 checks and grading) and loop
overhead (time the loop thread spent outside waiting on workers).

    python scripts/bench_evolve.py [--iterations 2] [--stages '[1, 2]']
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dgm.evolve import loop as loop_module  # noqa: E402
from dgm.evolve import options, workers  # noqa: E402
from dgm.evolve.items import CheckItem, CheckOutcome, DiagnoseItem, EvalItem, SelfModifyItem  # noqa: E402


class Probe:
    """Timings of work items, of the loop's waits, and of iteration windows (wall clock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[float, float, object, object]] = []
        self.waiting = 0.0
        self.windows: list[tuple[int, float, float, float]] = []  # iteration, start, end, waited

    def install(self) -> None:
        real_perform, real_wait, real_drive = workers.perform, loop_module.wait, loop_module.Evolution.drive
        probe = self

        def perform(item, context):
            t0 = time.time()
            out = real_perform(item, context)
            with probe.lock:
                probe.items.append((t0, time.time(), item, out))
            return out

        def wait(*a, **kw):
            t0 = time.monotonic()
            try:
                return real_wait(*a, **kw)
            finally:
                probe.waiting += time.monotonic() - t0

        def drive(self, jobs):
            t0, waited = time.time(), probe.waiting
            try:
                return real_drive(self, jobs)
            finally:
                probe.windows.append((self.iteration, t0, time.time(), probe.waiting - waited))

        workers.perform, loop_module.wait, loop_module.Evolution.drive = perform, wait, drive


def run_once(n_workers: int, iterations: int, stages: str, store: Path) -> dict:
    from dgm.evolve.loop import Evolution
    from dgm.evolve.session import open_session

    run_dir = Path(tempfile.mkdtemp(prefix="dgm-bench-evolve-")) / "run"
    config = options.resolve(REPO / "configs" / "offline-demo.toml", [
        f'run.dir="{run_dir}"', f'dataset.store="{store}"', f"dataset.stages={stages}",
        f"evolve.workers={n_workers}", f"evolve.iterations={iterations}", "budget.usd=100"])
    probe = Probe()
    probe.install()
    session = open_session(config, live=False)
    try:
        summary = Evolution(session).run()
    finally:
        session.close()
    calls = [json.loads(line) for line in (run_dir / "llm_calls.jsonl").read_text().splitlines() if line]
    rows = []
    for iteration, start, end, waited in probe.windows:
        inside = [(t0, t1, it, out) for t0, t1, it, out in probe.items if start <= t0 < end]
        in_calls = [c for c in calls if start <= _epoch(c["ts"]) < end]
        model = sum(c["latency_s"] for c in in_calls)
        agent_model = sum(c["latency_s"] for c in in_calls if c["role"] != "diagnose")
        agent = sum(out.seconds if isinstance(it, SelfModifyItem) else out.agent.seconds
                    for _, _, it, out in inside if isinstance(it, (SelfModifyItem, EvalItem)))
        test = sum(out.seconds for _, _, it, out in inside if isinstance(out, CheckOutcome))
        test += sum(out.grade_seconds for _, _, it, out in inside if isinstance(it, EvalItem))
        busy = sum(t1 - t0 for t0, t1, _, _ in inside)
        rows.append({"iteration": iteration, "wall": end - start, "model": model,
                     "sandbox": max(0.0, agent - agent_model), "test": test, "loop": (end - start) - waited,
                     "busy": busy, "children": sum(isinstance(it, SelfModifyItem) for _, _, it, _ in inside),
                     "agent_runs": sum(isinstance(it, (SelfModifyItem, EvalItem)) for _, _, it, _ in inside),
                     "diagnoses": sum(isinstance(it, DiagnoseItem) for _, _, it, _ in inside),
                     "checks": sum(isinstance(it, CheckItem) for _, _, it, _ in inside)})
    return {"workers": n_workers, "rows": rows, "admitted": summary.admitted, "rejected": summary.rejected}


def _epoch(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--stages", default="[1, 2]")
    args = parser.parse_args()
    store = Path(tempfile.gettempdir()) / "dgm-bench-evolve-store"
    results = [run_once(n, args.iterations, args.stages, store) for n in (1, 2)]
    print(f"\nscripted model, toy tasks, stages {args.stages}, {args.iterations} iterations of 2 children\n")
    print(f"{'workers':>7} {'iter':>4} {'wall s':>7} {'model s':>8} {'sandbox s':>9} {'test s':>7} "
          f"{'loop s':>7} {'worker-s':>8} {'parallel':>8} {'runs':>5}")
    for r in results:
        for row in r["rows"]:
            print(f"{r['workers']:>7} {row['iteration']:>4} {row['wall']:>7.1f} {row['model']:>8.2f} "
                  f"{row['sandbox']:>9.1f} {row['test']:>7.1f} {row['loop']:>7.2f} {row['busy']:>8.1f} "
                  f"{row['busy'] / row['wall']:>8.2f} {row['agent_runs']:>5}")
    print()
    base = None
    for r in results:
        rows = [row for row in r["rows"] if row["iteration"] >= 1]
        wall = sum(row["wall"] for row in rows)
        children = sum(row["children"] for row in rows)
        runs = sum(row["agent_runs"] for row in rows)
        rate = children / wall * 60 if wall else 0.0
        base = base or rate
        print(f"workers={r['workers']}: {children} children in {wall:.1f} s of iterations 1..n = "
              f"{rate:.2f} children/min, {runs / wall * 60:.1f} agent runs/min "
              f"({rate / base:.2f}x the 1-worker rate); admitted {r['admitted']}, rejected {r['rejected']}")
        share = {k: sum(row[k] for row in rows) / wall for k in ("model", "sandbox", "test", "loop")}
        print("    share of iteration wall time (summed over workers, so it can exceed 1): "
              + ", ".join(f"{k} {v:.2f}" for k, v in share.items()))


if __name__ == "__main__":
    main()
