"""Measure the Ray executor against the local pool, side by side in one run on this machine.

1. Overhead per work item: a trivial item (its tree shipped, the node's state found, the outcome and
   files carried back; the work itself is nothing) through the local pool and through Ray, one at a
   time (latency) and with the pool kept full (throughput).
2. Children per minute of the evolve loop on the toy tasks with the scripted model: the local pool,
   then Ray with one node, then Ray with two nodes (all nodes are this machine, so a second node adds
   no cores: what changes is the scheduling, not the capacity).

Prints a table; asserts nothing.

    python scripts/bench_ray.py [--items 40] [--iterations 1] [--skip-evolve]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dgm.evolve.workers import Board, LocalExecutor, WorkContext
from dgm.llm.gateway import Gateway
from dgm.llm.relay import Relay
from dgm.llm.settings import ModelSettings
from dgm.ray.executor import RayExecutor, RaySettings
from dgm.ray.local_cluster import Cluster

REPO = Path(__file__).resolve().parents[1]
TARGET_OVERHEAD_MS = 50.0


@dataclass
class Trivial:
    """An item no runner knows: perform() answers it at once (as a crashed outcome), with no container."""

    tree: Path
    out_dir: Path | None = None

    def label(self) -> str:
        return "trivial item"


def timed(executor, items: list, window: int) -> list[float]:
    """Seconds per item with WINDOW items in flight (1 = one after another)."""
    times = []
    for i in range(0, len(items), window):
        batch = items[i:i + window]
        t0 = time.perf_counter()
        for f in [executor.submit(it) for it in batch]:
            f.result(timeout=300)
        times.append((time.perf_counter() - t0) / len(batch))
    return times


def overhead(cluster: Cluster, n: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="dgm-bench-ray-"))
    settings = ModelSettings(model="openai/none", api_base="http://127.0.0.1:9/v1", tokens_only=True)
    tree = REPO / "agents_archive" / "seed"
    items = [Trivial(tree) for _ in range(n)]
    out = {}
    with Relay(Gateway({"task": settings}), tmp / "relay") as relay:
        context = WorkContext(None, relay, "bench-ray", lambda: "none")
        local = LocalExecutor(2, context, Board())
        for f in [local.submit(it) for it in items[:4]]:
            f.result()
        out["local_1"] = statistics.median(timed(local, items, 1))
        out["local_full"] = statistics.median(timed(local, items, 4))
        local.shutdown()
        ray_exec = RayExecutor(RaySettings(cluster.address, 0.1, 16, pending=8, gate_host="127.0.0.1"),
                               context, Board(), local=LocalExecutor(1, context, Board()))
        try:
            for f in [ray_exec.submit(it) for it in items[:4]]:  # warm: worker processes, node state, tree ref
                f.result(timeout=300)
            out["ray_1"] = statistics.median(timed(ray_exec, items, 1))
            out["ray_full"] = statistics.median(timed(ray_exec, items, 8))
        finally:
            ray_exec.shutdown()
    shutil.rmtree(tmp, ignore_errors=True)
    return out


def _stamp(line: str) -> float:
    return datetime.strptime(line[:20], "%Y-%m-%dT%H:%M:%SZ").timestamp()


def children_per_minute(run_dir: Path, store: Path, iterations: int, extra: list[str],
                        env: dict | None) -> tuple[float, int, float]:
    args = [sys.executable, "-m", "dgm.evolve", str(REPO / "configs" / "offline-demo.toml"),
            "-c", f'run.dir="{run_dir}"',
            "-c", f'dataset.store="{store}"', "-c", f"evolve.iterations={iterations}", "-c", "dataset.stages=[1]",
            "-c", "evolve.cache=\"off\""]
    for item in extra:
        args += ["-c", item]
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    lines = (run_dir / "log.txt").read_text().splitlines()
    start = next(_stamp(ln) for ln in lines if "root node 0 evaluated" in ln)
    end = next(_stamp(ln) for ln in lines if "run finished" in ln)
    children = sum(1 for ln in lines if re.search(r"node \d+ created from parent", ln))
    return children / max(1.0, end - start) * 60, children, end - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=40, help="trivial items per measurement (default: 40)")
    ap.add_argument("--iterations", type=int, default=1, help="evolve iterations per run (default: 1)")
    ap.add_argument("--skip-evolve", action="store_true", help="measure the per-item overhead only")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="dgm-bench-ray-"))
    cluster = Cluster()
    try:
        cluster.start_head(slots=2)
        o = overhead(cluster, args.items)
        print("per-item cost of a trivial item (median over batches)")
        print(f"  {'':24}{'local pool':>12}{'ray':>12}{'ray - local':>14}")
        for key, what in (("1", "one at a time"), ("full", "pool kept full")):
            loc, ray_ms = o[f"local_{key}"] * 1000, o[f"ray_{key}"] * 1000
            print(f"  {what:24}{loc:>10.2f}ms{ray_ms:>10.2f}ms{ray_ms - loc:>12.2f}ms")
        print(f"  target: Ray's overhead per item < {TARGET_OVERHEAD_MS:.0f} ms "
              f"({'met' if (o['ray_1'] - o['local_1']) * 1000 < TARGET_OVERHEAD_MS else 'NOT met'} one at a time)")
        if args.skip_evolve:
            return
        store = tmp / "store"
        rows = []
        rate, kids, secs = children_per_minute(tmp / "local", store, args.iterations, [], None)
        rows.append(("local pool (2 workers)", rate, kids, secs))
        ray_cfg = ['evolve.executor="ray"', f'evolve.ray_address="{cluster.address}"',
                   'evolve.ray_gate_host="127.0.0.1"', "evolve.ray_memory_mb=256"]
        rate, kids, secs = children_per_minute(tmp / "ray1", store, args.iterations, ray_cfg + ["evolve.workers=2"],
                                               cluster.env)
        rows.append(("ray, 1 node (2 slots)", rate, kids, secs))
        cluster.add_node(slots=2)
        rate, kids, secs = children_per_minute(tmp / "ray2", store, args.iterations, ray_cfg + ["evolve.workers=4"],
                                               cluster.env)
        rows.append(("ray, 2 nodes (2+2 slots)", rate, kids, secs))
        print("\nchildren per minute (toy tasks, scripted model; iterations after the seed's evaluation)")
        base = rows[0][1]
        for name, rate, kids, secs in rows:
            print(f"  {name:28}{rate:>7.2f}/min  ({kids} children in {secs:.0f} s; x{rate / base:.2f} of local)")
        print(json.dumps({"overhead_ms": {k: round(v * 1000, 2) for k, v in o.items()},
                          "children_per_minute": {r[0]: round(r[1], 3) for r in rows}}))
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
