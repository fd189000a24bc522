"""Measured, printed, never asserted: grading in a sandbox vs the same tests run directly,
and environment image build time cold vs cached.

    python scripts/bench_grading.py [--store DIR] [--repeat N] [--baseline DIR]

With --baseline DIR (a checkout of an earlier dgm, e.g. `git worktree add /tmp/old REF`),
grading the gold patch is timed with that checkout's grader and with this one, each in its
own process, in alternating rounds, and the ratio is printed (what a grading change costs).

The toy instance's tests also run on the host in a prepared directory (toy repos are our
own code). A real instance, when the manifest has one, never runs on the host: its
"direct" time is the test command alone in an already-prepared sandbox.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "datasets" / "toy" / "toy.jsonl"
TOY_ID = "dgm-toy__calc-1"


def host_direct(inst, env) -> float:
    """Prepare a directory once (copy, apply gold + test patch), then time the test command alone."""
    work = Path(tempfile.mkdtemp(prefix="dgm-bench-grading-"))
    try:
        from dgm.bench.local_source import local_source_dir
        from dgm.hostgit import apply_in

        repo = work / "repo"
        shutil.copytree(local_source_dir(inst), repo, ignore=shutil.ignore_patterns("__pycache__"))
        for patch in (inst.patch, inst.test_patch):
            applied = apply_in(repo, patch)  # host git only through dgm.hostgit
            if applied.returncode != 0:
                raise SystemExit(f"the toy patch does not apply: {applied.stderr.strip()}")
        cmd = env.test_command.replace("python ", f"{sys.executable} ", 1)
        t = time.perf_counter()
        res = subprocess.run(cmd, shell=True, cwd=repo, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        assert res.returncode == 0, res.stdout[-2000:]
        return seconds
    finally:
        shutil.rmtree(work, ignore_errors=True)


def sandbox_direct(inst, env, run_id: str) -> float:
    """A sandbox already started and patched: time the test command alone."""
    from dgm.sandbox.driver import Sandbox

    with Sandbox.start(env.image, run_id=run_id) as box:
        for name, patch in (("gold", inst.patch), ("test", inst.test_patch)):
            box.put_file(f"/tmp/{name}.diff", patch.encode())
            assert box.exec(f"git apply /tmp/{name}.diff").ok
        res = box.exec(env.test_command)
        return res.duration


def measure_grading(label: str, inst, env, run_id: str, repeat: int, on_host: bool) -> None:
    """The variants run interleaved (A B C, A B C, ...) so load from others hits them alike."""
    from dgm.bench.grading import grade

    runs: dict[str, list[float]] = {"grade": [], "box": [], "host": []}
    resolved = None
    for _ in range(repeat):
        t = time.perf_counter()
        resolved = grade(inst, env, inst.patch, run_id=run_id).resolved
        runs["grade"].append(time.perf_counter() - t)
        runs["box"].append(sandbox_direct(inst, env, run_id))
        if on_host:
            runs["host"].append(host_direct(inst, env))
    med = {k: statistics.median(v) for k, v in runs.items() if v}
    print(f"\n[{label}] {inst.instance_id}  ({env.image})")
    print(f"  grade in a fresh sandbox (start, apply, test, parse, judge): {med['grade']:7.2f} s   resolved={resolved}")
    print(f"  test command alone in a prepared sandbox:                   {med['box']:7.2f} s   "
          f"grade/tests = {med['grade'] / med['box']:.1f}x")
    if on_host:
        print(f"  test command alone in a prepared host directory:            {med['host']:7.2f} s   "
              f"grade/host = {med['grade'] / med['host']:.1f}x")


_TIMED = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
from dgm.bench.grading import grade
from dgm.bench.instances import load_instances
from dgm.bench.store import BenchStore
store = BenchStore(sys.argv[2])
env = store.environment(sys.argv[3])
inst = store.instance(sys.argv[3]) if not sys.argv[3].startswith("dgm-toy") else load_instances(sys.argv[5], ids=[sys.argv[3]])[0]
grade(inst, env, inst.patch, run_id=sys.argv[4])  # warm-up: imports, the image's plugin probe
out = []
for _ in range(int(sys.argv[6])):
    t = time.perf_counter()
    ok = grade(inst, env, inst.patch, run_id=sys.argv[4]).resolved
    out.append((time.perf_counter() - t, ok))
print(json.dumps(out))
"""


def compare_with(baseline: Path, instance_id: str, store, run_id: str, repeat: int, rounds: int = 2) -> None:
    """Gold-patch grading time, baseline checkout vs this one, alternating processes."""
    times: dict[str, list[float]] = {"baseline": [], "current": []}
    for _ in range(rounds):
        for label, root in (("baseline", baseline), ("current", ROOT)):
            res = subprocess.run([sys.executable, "-c", _TIMED, str(root), str(store.path), instance_id, run_id,
                                  str(TOY), str(repeat)], capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": str(root)})
            if res.returncode:
                print(f"  {label}: failed: {res.stderr.strip().splitlines()[-1:]}")
                return
            rows = json.loads(res.stdout.strip().splitlines()[-1])
            times[label] += [t for t, _ in rows]
            if not all(ok for _, ok in rows):
                print(f"  {label}: the gold patch did not resolve")
    old, new = statistics.median(times["baseline"]), statistics.median(times["current"])
    print(f"\n[grader change] {instance_id}: median of {len(times['current'])} gold grades each")
    print(f"  baseline {baseline}: {old:6.2f} s   this checkout: {new:6.2f} s   current/baseline = {new / old:.2f}x")


def measure_build(inst, store) -> None:
    """Cold: a unique ENV value defeats Docker's layer cache, under a throwaway tag. Cached: the same
    recipe again (the tag exists), and the same content under another name (all layers cached)."""
    import docker

    from dgm.bench.environment import build_environment
    from dgm.bench.makers import recipe_for
    from dgm.sandbox.engine import docker_client

    recipe = recipe_for(inst, store.work_dir(inst.instance_id))
    throwaway = f"dgm-env-benchcold-{uuid.uuid4().hex[:8]}"
    cold_recipe = replace(recipe, env={**recipe.env, "DGM_BENCH_NONCE": uuid.uuid4().hex})
    made: list[str] = []
    layers_of: dict = {}
    try:
        t = time.perf_counter()
        made.append(build_environment(cold_recipe, name=throwaway, record=layers_of))
        cold = time.perf_counter() - t
        t = time.perf_counter()
        made.append(build_environment(cold_recipe, name=throwaway + "-again"))
        layers = time.perf_counter() - t
        t = time.perf_counter()
        build_environment(cold_recipe, name=throwaway)
        tagged = time.perf_counter() - t
    finally:
        # The throwaway release environment (its nonce makes it nobody else's) goes last.
        for tag in [*made, layers_of.get("environment_image", "")]:
            if not tag:
                continue
            try:
                docker_client().images.remove(tag, noprune=False)
            except docker.errors.APIError:
                pass
    print(f"\n[image build] {inst.instance_id}")
    print(f"  cold (no layer cache, throwaway tag):   {cold:7.2f} s")
    print(f"  same content, new tag (layers cached):  {layers:7.2f} s   cold/cached = {cold / layers:.1f}x")
    print(f"  same recipe again (tag exists):         {tagged:7.3f} s   cold/cached = {cold / tagged:.0f}x")


def main() -> int:
    from dgm.bench.build import build_instance
    from dgm.bench.instances import load_instances
    from dgm.bench.store import BenchStore
    from dgm.sandbox.driver import sweep
    from dgm.sandbox.engine import image_exists

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", help="bench store with a manifest (default: $DGM_HOME/bench)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument("--baseline", metavar="DIR", help="an earlier dgm checkout to compare grading time with")
    parser.add_argument("--only-compare", action="store_true", help="with --baseline: skip the other measurements")
    args = parser.parse_args()
    store = BenchStore(Path(args.store) if args.store else None)
    run_id = f"bench-grading-{uuid.uuid4().hex[:8]}"
    try:
        toy = load_instances(TOY, ids=[TOY_ID])[0]
        env = store.get(TOY_ID)
        if not (env and env.validated and image_exists(env.image)):
            env = build_instance(toy, store, run_id=run_id)
        load = os.getloadavg()[0]
        print(f"machine: {os.cpu_count()} cores, load average {load:.1f}; median of {args.repeat} runs per line")
        real = [e for e in store.environments("validated") if not e.instance_id.startswith("dgm-toy")
                and image_exists(e.image)]
        if args.baseline:
            for iid in [TOY_ID] + [e.instance_id for e in real if e.repo == "pallets/flask"][:1]:
                compare_with(Path(args.baseline), iid, store, run_id, args.repeat)
            if args.only_compare:
                return 0
        measure_grading("toy", toy, env, run_id, args.repeat, on_host=True)
        if real:
            measure_grading("real", store.instance(real[0].instance_id), real[0], run_id, args.repeat, on_host=False)
        else:
            print(f"\n[real] no validated real instance in {store.manifest_path}; skipped")
        measure_build(toy, store)
    finally:
        sweep(run_id=run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
