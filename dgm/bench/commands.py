"""Handlers of `dgm bench ...` (argparse lives in cli.py)."""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from dgm.bench.store import BenchStore, TaskEnvironment
from dgm.errors import BadInput
from dgm.terminal import inert


def _store(args: argparse.Namespace) -> BenchStore:
    return BenchStore(Path(args.store) if args.store else None)


def _run_id(prefix: str) -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _progress(console, total: int, verb: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(f"[bold]{verb}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.description}"), console=console, transient=False)


def _status_style(status: str) -> str:
    return "green" if status == "validated" else ("yellow" if status == "built" else "red")


def _text(value: object, style: str = ""):  # noqa: ANN202 - rich.text.Text
    """Rich text that is never markup and never a terminal control: details and errors quote sandboxes."""
    from rich.text import Text

    return Text(inert(value, lines=False), style=style)


def _line(style: str, word: str, rest: str):  # noqa: ANN202 - rich.text.Text
    """A progress line: a styled status word, then plain data."""
    return _text(word, style) + _text(rest)


def _summary_table(envs: list[TaskEnvironment], title: str):
    """Per repo: built, validated, failed by reason."""
    from rich.table import Table

    per_repo: dict[str, Counter] = defaultdict(Counter)
    reasons = sorted({e.reason for e in envs if e.reason})
    for e in envs:
        c = per_repo[e.repo or "?"]
        c["total"] += 1
        c["built"] += bool(e.image)
        c["validated"] += e.validated
        if e.reason:
            c[e.reason] += 1
    table = Table(title=_text(title))
    for col in ("repo", "total", "built", "validated", *reasons):
        table.add_column(_text(col), justify="left" if col == "repo" else "right")
    totals: Counter = Counter()
    for repo in sorted(per_repo):
        c = per_repo[repo]
        totals.update(c)
        table.add_row(_text(repo), *(str(c[k]) for k in ("total", "built", "validated", *reasons)))
    if len(per_repo) > 1:
        table.add_row("[bold]all", *(f"[bold]{totals[k]}" for k in ("total", "built", "validated", *reasons)))
    return table


def cmd_build(args: argparse.Namespace) -> int:
    from dgm.bench.build import build_many
    from dgm.bench.instances import load_instances
    from dgm.sandbox.engine import image_exists

    store = _store(args)
    instances = load_instances(args.dataset, ids=args.instance or None, repos=args.repo or None,
                               subset_file=Path(args.subset) if args.subset else None, slice_=args.slice)
    if not instances:
        raise BadInput("the selection is empty", hint="check --instance/--repo/--subset/--slice")
    console = _console()
    todo, kept = [], []
    for inst in instances:
        env = store.get(inst.instance_id)
        if env and env.validated and not args.rebuild and image_exists(env.image):
            kept.append(env)
        else:
            todo.append(inst)
    if kept:
        console.print(_text(f"{len(kept)} instance(s) already validated in {store.path} (use --rebuild to redo)"))
    run_id = _run_id("bench-build")
    results: list[TaskEnvironment] = list(kept)
    if todo:
        with _progress(console, len(todo), "build") as progress:
            task = progress.add_task("", total=len(todo))

            def report(env: TaskEnvironment) -> None:
                progress.advance(task)
                progress.console.print(_line(_status_style(env.status), f"{env.status:<28}", f" {env.instance_id}"
                                             + (f"  {env.detail}" if env.detail and not env.validated else "")))

            results += build_many(todo, store, run_id=run_id, jobs=args.jobs, progress=report,
                                  validate_it=not args.no_validate)
    from rich.console import Console

    Console().print(_summary_table(results, f"dgm bench build: {len(results)} instance(s)"))
    Console().print(_text(f"manifest: {store.manifest_path}"))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from dgm.bench.build import validate_environment
    from dgm.sandbox.engine import image_exists

    store = _store(args)
    envs = [store.environment(i) for i in args.instance] if args.instance else [
        e for e in store.environments() if e.image]
    if not envs:
        raise BadInput(f"no built instances in {store.path}", hint="run `dgm bench build --dataset FILE` first")
    console = _console()
    run_id = _run_id("bench-validate")
    rows = {}
    if args.dataset:
        from dgm.bench.instances import load_instances

        rows = {i.instance_id: i for i in load_instances(args.dataset)}
    instances = {e.instance_id: rows.get(e.instance_id) or store.instance(e.instance_id) for e in envs}

    def one(env: TaskEnvironment) -> TaskEnvironment:
        if not env.image or not image_exists(env.image):
            env.status, env.detail = "failed:image-missing", f"image {env.image or '(none)'} is not in Docker"
            store.put(env)
            return env
        return validate_environment(instances[env.instance_id], env, store, run_id=run_id)

    with _progress(console, len(envs), "validate") as progress:
        task = progress.add_task("", total=len(envs))
        results = []
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for env in pool.map(one, envs):
                progress.advance(task)
                progress.console.print(_line(_status_style(env.status), f"{env.status:<28}", f" {env.instance_id}"
                                             + (f"  {env.detail}" if not env.validated else "")))
                results.append(env)
    from rich.console import Console

    Console().print(_summary_table(results, f"dgm bench validate: {len(results)} instance(s)"))
    return 0 if all(e.validated for e in results) else 1


def cmd_grade(args: argparse.Namespace) -> int:
    from dgm.bench.instances import load_instances
    from dgm.bench.predictions import grade_predictions, read_predictions

    store = _store(args)
    predictions = read_predictions(Path(args.predictions))
    if not predictions:
        raise BadInput(f"{args.predictions}: no predictions")
    if args.dataset:
        instances = load_instances(args.dataset)
    else:
        instances = [store.instance(p.instance_id) for p in predictions]
    out = Path(args.out) if args.out else store.path / "evaluations"
    run_id = args.run_id or _run_id("grade")
    console = _console()
    with _progress(console, len(predictions), "grade") as progress:
        task = progress.add_task("", total=len(predictions))

        def report(result) -> None:
            progress.advance(task)
            word = "resolved" if result.resolved else ("empty" if result.empty_patch else (
                "error" if result.error else "unresolved"))
            style = {"resolved": "green", "unresolved": "red", "empty": "yellow", "error": "red"}[word]
            progress.console.print(_line(style, f"{word:<10}", f" {result.instance_id}  {result.seconds:.1f} s"
                                         + (f"  ({result.error})" if result.error else "")))

        summary = grade_predictions(predictions, instances, store, out, run_id=run_id, jobs=args.jobs,
                                    progress=report)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"resolved {summary['resolved_instances']}/{summary['total_instances']}"
              f"  (empty {summary['empty_patch_instances']}, errors {summary['error_instances']})"
              f"  report: {summary['summary_path']}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    store = _store(args)
    envs = store.environments(args.status)
    if args.json:
        from dataclasses import asdict

        print(json.dumps([asdict(e) for e in envs], indent=1))
        return 0
    if not envs:
        print(inert(f"no instances in {store.manifest_path}"))
        return 0
    table = Table(title=_text(store.manifest_path))
    for col in ("instance", "repo", "status", "image", "detail"):
        table.add_column(col, overflow="fold")
    for e in envs:
        table.add_row(_text(e.instance_id), _text(e.repo), _text(e.status, _status_style(e.status)),
                      _text(e.image), _text(e.detail))
    console = Console()
    console.print(table)
    console.print(_summary_table(envs, "summary"))
    return 0
