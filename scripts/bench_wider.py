"""What the wider run (gate.verifiers naming wider_tests) adds to a task run: seconds, next to grading's.

Builds the toy tasks (cached images) in a temporary store, then per task and repeat grades the gold patch
and runs the tests around it (dgm.bench.wider: the test-file listing, cached per image, and two test runs
in grading sandboxes), real Docker, and prints the seconds of each and their median.

    python scripts/bench_wider.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dgm.bench.build import build_many  # noqa: E402
from dgm.bench.grading import grade  # noqa: E402
from dgm.bench.instances import load_instances  # noqa: E402
from dgm.bench.store import BenchStore  # noqa: E402
from dgm.bench.wider import wider_run  # noqa: E402
from dgm.sandbox.driver import sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    instances = load_instances(REPO / "datasets" / "toy" / "toy.jsonl")
    run_id = f"bench-wider-{uuid.uuid4().hex[:8]}"
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = BenchStore(Path(tmp))
            build_many(instances, store, run_id=run_id)
            for inst in instances:
                env = store.environment(inst.instance_id)
                for _ in range(args.repeats):
                    started = time.monotonic()
                    graded = grade(inst, env, inst.patch, run_id=run_id)
                    grading = time.monotonic() - started
                    started = time.monotonic()
                    record = wider_run(inst, env, inst.patch, run_id=run_id)
                    rows.append((inst.instance_id, grading, time.monotonic() - started, len(record.tests),
                                 graded.resolved, record.breaks))
    finally:
        sweep(run_id=run_id)
    print(f"{'task':24} {'grading s':>10} {'wider s':>8} {'tests':>6}  resolved  breaks")
    for iid, grading, wider, tests, resolved, breaks in rows:
        print(f"{iid:24} {grading:10.2f} {wider:8.2f} {tests:6d}  {resolved!s:8}  {len(breaks)}")
    print(f"median: grading {statistics.median(r[1] for r in rows):.2f} s, "
          f"wider run {statistics.median(r[2] for r in rows):.2f} s per task run ({len(rows)} runs)")


if __name__ == "__main__":
    main()
