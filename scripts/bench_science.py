"""The instruments' own cost per task run: extra tokens and seconds, side by side with the task runs'.

Reads one run (or first makes one: the offline demo, scripted model, toy tasks, real Docker, with
evolve.self_verify on). Per task run that was not a cache hit: the agent's tokens and seconds against the
verification call's (the only instrument that calls a model), then the seconds `dgm analyze` and the
report's Verification section take per task run (computed after the fact, from the archive).

    python scripts/bench_science.py [RUN] [--store DIR]

The scripted model counts tokens as characters / 4 of what is sent and answered, so the ratio is the
ratio of text sizes; with a real model the agent's side grows with its steps, the verifier's does not.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dgm.archive import Archive  # noqa: E402
from dgm.artifacts.calls import accounts_of, iter_calls  # noqa: E402
from dgm.report.verification import verification_html  # noqa: E402
from dgm.science.analyze import analysis  # noqa: E402

TARGET = 0.05


def make_run(dest: Path, store: Path | None) -> Path:
    run = dest / "run"
    args = [sys.executable, "-m", "dgm", "evolve", str(REPO / "configs" / "offline-demo.toml"),
            "-c", f'run.dir="{run}"', "-c", "dataset.stages=[1, 2]", "-c", "evolve.iterations=1",
            "-c", 'evolve.cache="off"', "-c", "evolve.self_verify=true"]
    if store is not None:
        args += ["-c", f'dataset.store="{store}"']
    subprocess.run(args, cwd=REPO, check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", nargs="?", type=Path, help="a run directory (default: make one)")
    parser.add_argument("--store", type=Path, help="bench store for a new run (default: $DGM_HOME/bench)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-science-") as tmp:
        run = args.run or make_run(Path(tmp), args.store)
        calls: dict[str, int] = {}
        for entry in iter_calls(run / "llm_calls.jsonl"):
            for account in accounts_of(entry):
                calls[str(account)] = calls.get(str(account), 0) + 1
        with Archive.open(run) as archive:
            keyed = [(f"node:{n.id}:task:{iid}", r) for n in archive.nodes() for iid, r in n.results.items()
                     if isinstance(r.get("verification"), dict) and not r.get("cached")]
            rows = [r for _, r in keyed]
            steps = [calls.get(account, 0) for account, _ in keyed]
            if not rows:
                print(f"{run}: no verified, uncached task run (was evolve.self_verify on?)")
                return 1
            started = time.perf_counter()
            data = analysis(archive)
            analyze_s = time.perf_counter() - started
            started = time.perf_counter()
            verification_html(data)
            section_s = time.perf_counter() - started
    task_tok = [r["tokens_in"] + r["tokens_out"] for r in rows]
    ver_tok = [r["verification"]["tokens_in"] + r["verification"]["tokens_out"] for r in rows]
    task_s = [r["seconds"] for r in rows]
    ver_s = [r["verification"]["seconds"] for r in rows]
    share = sum(ver_tok) / sum(task_tok)
    print(f"run: {run}\ntask runs with a verification call: {len(rows)}\n")
    print(f"{'per task run':<34}{'task run':>12}{'instruments':>14}{'ratio':>9}")
    print(f"{'tokens (mean)':<34}{statistics.mean(task_tok):>12.0f}{statistics.mean(ver_tok):>14.0f}"
          f"{share:>9.2%}")
    print(f"{'seconds, agent + grading (mean)':<34}{statistics.mean(task_s):>12.2f}{statistics.mean(ver_s):>14.3f}"
          f"{sum(ver_s) / sum(task_s):>9.2%}")
    per = len(rows)
    print(f"{'seconds, dgm analyze (after)':<34}{'':>12}{analyze_s / per:>14.6f}{analyze_s / sum(task_s):>9.2%}")
    print(f"{'seconds, report section (after)':<34}{'':>12}{section_s / per:>14.6f}{section_s / sum(task_s):>9.2%}")
    per_step = sum(task_tok) / max(1, sum(steps))
    print(f"{'model calls (mean)':<34}{statistics.mean(steps):>12.1f}{1:>14}")
    need = statistics.mean(ver_tok) / per_step / TARGET
    print(f"\none verification call = {statistics.mean(ver_tok) / per_step:.2f} of an agent model call's tokens "
          f"({per_step:.0f}); at that size the share is under {TARGET:.0%} for runs of {need:.1f} calls or more")
    print(f"target: instrument tokens < {TARGET:.0%} of a task run's: "
          f"{'met' if share < TARGET else 'NOT met'} ({share:.2%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
