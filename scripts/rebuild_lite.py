"""Breadth run: rebuild SWE-bench Lite instances from PyPI releases, build and validate them,
and print a per-repository table (candidates, recipe ok, built, validated, failures by reason).

    python scripts/rebuild_lite.py --repo pallets/flask --repo pytest-dev/pytest --limit 3
    python scripts/rebuild_lite.py --recipes-only          # release lookup + reverse-apply only

Results go to the bench store (default $DGM_HOME/bench), so `dgm bench list`/`grade` see them,
and to --out as JSON. Already-validated instances are kept unless --rebuild. With --record, each
instance's verdict is written into datasets/lite_release_map.jsonl (its `bench` field) as soon as it
is known, so a run that is stopped keeps what it measured; --skip-recorded then goes on from there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dgm.bench.instances import load_instances  # noqa: E402
from dgm.bench.pypi.release_map import RELEASE_MAP, load_release_map  # noqa: E402

PURE_PYTHON = ["pallets/flask", "pytest-dev/pytest", "sympy/sympy", "django/django",
               "mwaskom/seaborn", "sphinx-doc/sphinx", "psf/requests", "pylint-dev/pylint",
               "pydata/xarray"]


def _reason(status: str, detail: str) -> str:
    """A short failure class for the table: the status reason plus the detail's gist."""
    reason = status.split(":", 1)[1] if status.startswith("failed:") else status
    gist = detail.split(":")[0].split("(")[0].strip()[:60]
    if reason == "no-recipe" and gist:
        return f"no-recipe: {gist}"
    return reason


def pick(instances, per_repo: int | None, rebuildable_only: bool, skip_recorded: bool = False):
    release_map = load_release_map()
    out, seen = [], Counter()
    for inst in instances:
        row = release_map.get(inst.instance_id, {})
        if skip_recorded and (row.get("bench") or {}).get("verdict") in ("validated", "failed", "refused"):
            continue  # an earlier breadth run measured it (--record)
        if rebuildable_only and row and (row.get("status") == "refused" or not (
                row.get("release") or row.get("ext_wide_window_release")
                or row.get("ext_reduced_context_C1_release"))):
            continue  # no release takes the patches, or the bench cannot build it (`bench` says why)
        if per_repo is not None and seen[inst.repo] >= per_repo:
            continue
        seen[inst.repo] += 1
        out.append(inst)
    return out


def recipes_only(instances) -> list[dict]:
    from dgm.bench.pypi import recipe_for_release
    from dgm.errors import DgmError

    rows = []
    for inst in instances:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                r = recipe_for_release(inst, Path(tmp))
                rows.append({"instance_id": inst.instance_id, "repo": inst.repo, "status": "recipe",
                             "detail": r.notes["release"]})
            except DgmError as exc:
                rows.append({"instance_id": inst.instance_id, "repo": inst.repo,
                             "status": "failed:no-recipe", "detail": str(exc)})
        print(f"{rows[-1]['instance_id']:40s} {rows[-1]['status']:20s} {rows[-1]['detail'][:90]}",
              flush=True)
    return rows


def record(row: dict, path: Path = RELEASE_MAP) -> None:
    """Write one instance's breadth verdict into the release map's `bench` field (atomically)."""
    status, detail = row["status"], " ".join(str(row.get("detail") or "").split())
    bench = {"verdict": "validated" if status == "validated" else "failed",
             "reason": "" if status == "validated" else f"{status}: {detail}"[:300],
             "seconds": (row.get("notes") or {}).get("seconds"),
             "measured": time.strftime("%Y-%m-%d")}
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines):
        if line.strip() and json.loads(line)["instance_id"] == row["instance_id"]:
            old = json.loads(line)
            old["bench"] = bench
            lines[n] = json.dumps(old)
            break
    else:
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)
    load_release_map.cache_clear()


def build(instances, store_dir: Path | None, rebuild: bool, keep: bool = False) -> list[dict]:
    from dgm.bench.build import build_instance
    from dgm.bench.store import BenchStore

    store = BenchStore(store_dir)
    run_id = f"rebuild-{uuid.uuid4().hex[:8]}"
    rows = []
    for inst in instances:
        old = store.get(inst.instance_id)
        if old is not None and old.validated and not rebuild:
            env = old
        else:
            started = time.monotonic()
            try:
                env = build_instance(inst, store, run_id=run_id)
            except Exception as exc:  # a long breadth run goes on; the row says what broke
                rows.append({"instance_id": inst.instance_id, "repo": inst.repo, "status": "failed:error",
                             "detail": f"{type(exc).__name__}: {exc}", "image": None,
                             "notes": {"seconds": round(time.monotonic() - started, 1)}})
                print(f"{inst.instance_id:40s} failed:error {rows[-1]['detail'][:100]}", flush=True)
                if keep:
                    record(rows[-1])
                continue
            env.notes.setdefault("seconds", round(time.monotonic() - started, 1))
        rows.append({"instance_id": inst.instance_id, "repo": inst.repo, "status": env.status,
                     "detail": env.detail, "image": env.image, "notes": env.notes})
        if keep:
            record(rows[-1])
        print(f"{inst.instance_id:40s} {env.status:26s} {env.notes.get('seconds', '')!s:>7} "
              f"{env.detail[:100]}", flush=True)
    return rows


def table(rows: list[dict], candidates: dict[str, int]) -> str:
    by_repo: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_repo[r["repo"]].append(r)
    lines = ["| repository | Lite | tried | recipe ok | built | validated | failed by reason |",
             "|---|---|---|---|---|---|---|"]
    total = Counter()
    for repo in sorted(set(candidates) | set(by_repo)):
        rs = by_repo.get(repo, [])
        recipe_ok = sum(1 for r in rs if r["status"] != "failed:no-recipe")
        built = sum(1 for r in rs if r["status"] not in ("failed:no-recipe", "failed:build", "recipe"))
        validated = sum(1 for r in rs if r["status"] == "validated")
        reasons = Counter(_reason(r["status"], r["detail"]) for r in rs
                          if r["status"].startswith("failed:"))
        text = "; ".join(f"{k} {v}" for k, v in reasons.most_common())
        lines.append(f"| {repo} | {candidates.get(repo, 0)} | {len(rs)} | {recipe_ok} | {built} | "
                     f"{validated} | {text} |")
        total.update(lite=candidates.get(repo, 0), tried=len(rs), recipe=recipe_ok, built=built,
                     validated=validated)
    lines.append(f"| **total** | {total['lite']} | {total['tried']} | {total['recipe']} | "
                 f"{total['built']} | {total['validated']} | |")
    return "\n".join(lines)


def layers_table(rows: list[dict]) -> str:
    """Per built instance, in build order: its release environment, whether this build made it
    (first of the release) or found it (an extra instance), build seconds and disk."""
    mb = 1_000_000
    lines = ["| instance | release environment | role | build s | environment s | instance layer s "
             "| image MB | environment MB | instance layer MB | shares layers |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lay = (r.get("notes") or {}).get("layers") or {}
        if "image_bytes" not in lay:
            continue
        role = "extra" if lay.get("environment_reused") else "first"
        if not lay.get("shared_release_tree"):
            role += " (own tree)"
        lines.append(
            f"| {r['instance_id']} | {lay['environment_image'].split(':')[0].removeprefix('dgm-release-')} "
            f"| {role} | {r['notes'].get('build_seconds', '')} | {lay['environment_seconds']} "
            f"| {lay['instance_seconds']} | {lay['image_bytes'] / mb:.0f} | {lay['environment_bytes'] / mb:.0f} "
            f"| {lay['instance_layer_bytes'] / mb:.1f} | {'yes' if lay['shares_environment'] else 'no'} |")
    return "\n".join(lines) if len(lines) > 2 else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, default=ROOT / "datasets" / "swebench_lite.jsonl")
    ap.add_argument("--repo", action="append", help="repository (repeatable); default: pure-Python ones")
    ap.add_argument("--instance", action="append", help="instance id (repeatable)")
    ap.add_argument("--limit", type=int, default=None, help="at most N instances per repository")
    ap.add_argument("--all", action="store_true", help="also instances the release map says are not rebuildable")
    ap.add_argument("--recipes-only", action="store_true", help="stop after the recipe (no Docker)")
    ap.add_argument("--store", type=Path, default=None, help="bench store directory")
    ap.add_argument("--rebuild", action="store_true", help="rebuild instances already validated")
    ap.add_argument("--out", type=Path, default=None, help="write per-instance results as JSON")
    ap.add_argument("--record", action="store_true",
                    help="write each verdict into datasets/lite_release_map.jsonl as it is known")
    ap.add_argument("--skip-recorded", action="store_true",
                    help="leave out rows whose verdict the release map already records")
    ap.add_argument("--from-store", action="store_true",
                    help="build nothing: print the table of what the store already holds")
    args = ap.parse_args()

    everything = load_instances(args.dataset)
    repos = args.repo or PURE_PYTHON
    if args.instance:  # the named instances' repositories, compiled ones included
        repos = sorted({i.repo for i in everything if i.instance_id in set(args.instance)} | set(args.repo or []))
    candidates = Counter(i.repo for i in everything if i.repo in repos)
    chosen = load_instances(args.dataset, ids=args.instance) if args.instance else sorted(
        (i for i in everything if i.repo in repos), key=lambda i: repos.index(i.repo))  # --repo order
    chosen = pick(chosen, args.limit, rebuildable_only=not (args.all or args.instance),
                  skip_recorded=args.skip_recorded)
    print(f"{len(chosen)} instances from {len(set(i.repo for i in chosen))} repositories", flush=True)
    started = time.monotonic()
    if args.from_store:
        from dgm.bench.store import BenchStore

        held = {e.instance_id: e for e in BenchStore(args.store).environments()}
        rows = [{"instance_id": i.instance_id, "repo": i.repo, "status": held[i.instance_id].status,
                 "detail": held[i.instance_id].detail, "notes": held[i.instance_id].notes}
                for i in everything if i.instance_id in held and i.repo in repos]
        print(f"\n{table(rows, candidates)}")
        costs = layers_table(rows)
        if costs:
            print(f"\n{costs}")
        return 0
    rows = recipes_only(chosen) if args.recipes_only else build(chosen, args.store, args.rebuild,
                                                                        keep=args.record)
    print(f"\n{table(rows, candidates)}\n\n{len(rows)} instances in {time.monotonic() - started:.0f} s")
    costs = layers_table(rows)
    if costs:
        print(f"\nShared layers (load average {os.getloadavg()[0]:.1f} at the end):\n{costs}")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
