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


def _options(args: argparse.Namespace):  # noqa: ANN202 - official.EnvironmentOptions
    from dgm.bench.official import EnvironmentOptions
    from dgm.bench.pull import set_pull_limit

    if args.official and args.environments not in ("auto", "official"):
        raise BadInput(f"--official contradicts --environments {args.environments}", hint="give one of them")
    if args.pull_jobs < 1:
        raise BadInput(f"--pull-jobs {args.pull_jobs} must be at least 1")
    set_pull_limit(args.pull_jobs)
    return EnvironmentOptions("official" if args.official else args.environments, args.image_namespace,
                              args.image_tag)


def path_of(env: TaskEnvironment) -> str:
    """Which path an instance took: official (local or pulled), rebuild, or '' (not built)."""
    where = env.notes.get("environment") or ("official" if env.notes.get("kind") == "official" else "")
    if not where and env.image:
        where = "rebuild"
    source = env.notes.get("official_source")
    return f"{where} ({source})" if where == "official" and source else where


def cmd_build(args: argparse.Namespace) -> int:
    from dgm.bench.build import batch_specs, build_many
    from dgm.bench.instances import load_instances
    from dgm.bench.specs import install_hint, is_classic
    from dgm.sandbox.engine import image_exists

    store = _store(args)
    options = _options(args)
    instances = load_instances(args.dataset, ids=args.instance or None, repos=args.repo or None,
                               subset_file=Path(args.subset) if args.subset else None, slice_=args.slice)
    if not instances:
        raise BadInput("the selection is empty", hint="check --instance/--repo/--subset/--slice")
    console = _console()
    specs = batch_specs(instances, options)
    missing = [s for s in specs.values() if "specs are not in" in s.error]
    if missing:
        console.print(_text(f"classic rows take the offline rebuild: {missing[0].error}"))
    if args.dry_run:
        return _dry_run(instances, options, specs)
    if options.environments == "official":
        _preflight(instances, specs)
    todo, kept = [], []
    for inst in instances:
        env = store.get(inst.instance_id)
        took = path_of(env).split(" ")[0] if env else ""
        wrong_path = options.environments != "auto" and took != options.environments
        if env and env.validated and not args.rebuild and not wrong_path and image_exists(env.image):
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
                progress.console.print(_line(_status_style(env.status), f"{env.status:<28}",
                                             f" {env.instance_id}  [{path_of(env) or '-'}]"
                                             + (f"  {env.detail}" if env.detail and not env.validated else "")))

            def pulling(line: str) -> None:
                from rich.markup import escape

                progress.update(task, description=escape(inert(line, lines=False)[:100]))

            results += build_many(todo, store, run_id=run_id, jobs=args.jobs, progress=report,
                                  validate_it=not args.no_validate, options=options, specs=specs,
                                  pull_progress=pulling)
    from rich.console import Console

    if len(results) > 1:
        Console().print(_summary_table(results, f"dgm bench build: {len(results)} instance(s)"))
    paths = Counter(path_of(e).split(" ")[0] or "none" for e in results)
    Console().print(_text("paths: " + ", ".join(f"{k} {v}" for k, v in sorted(paths.items()))))
    Console().print(_text(f"manifest: {store.manifest_path}"))
    if any(is_classic(i) for i in instances) and missing:
        Console().print(_text(install_hint()))
    return _shortfalls_exit(results, validated=not args.no_validate)


def _shortfalls_exit(results: list[TaskEnvironment], *, validated: bool) -> int:
    """One line per instance that was refused, failed to build or failed validation; 1 if any."""
    import sys

    from dgm.bench.failures import failure_line, shortfalls

    missed = shortfalls(results, validated=validated)
    for env in missed:
        print(failure_line(env), file=sys.stderr)
    return 1 if missed else 0


def _preflight(instances: list, specs: dict) -> None:
    """With environments = official: every instance's image local or in its registry, else exit 2."""
    from dgm.bench.official import target_for
    from dgm.bench.pull import PullFailed, check_available

    for inst in instances:
        target = target_for(inst, specs.get(inst.instance_id))
        if isinstance(target, str):
            raise BadInput(f"{inst.instance_id}: environments = official, but {target}",
                           hint="use --environments auto or rebuild for this row")
        try:
            check_available(target.image)
        except PullFailed as exc:
            raise BadInput(f"{inst.instance_id}: {exc.message}",
                           hint="start or reach the registry, or use --environments auto") from None


def _dry_run(instances: list, options, specs: dict) -> int:  # noqa: ANN001 - EnvironmentOptions
    """Which path each instance would take and what the pulls would transfer; nothing is changed."""
    from rich.console import Console
    from rich.table import Table

    from dgm.bench.official import target_for
    from dgm.bench.pull import engine_disk, registry_of, registry_size
    from dgm.errors import DgmError
    from dgm.sandbox.engine import image_exists

    table = Table(title=_text(f"dgm bench build --dry-run (environments = {options.environments})"))
    for col in ("instance", "path", "image", "pull"):
        table.add_column(col, overflow="fold", justify="right" if col == "pull" else "left")
    total, unknown, cannot, first_error = 0, 0, [], ""
    for inst in instances:
        target = "" if options.environments == "rebuild" else target_for(inst, specs.get(inst.instance_id))
        if isinstance(target, str):
            if options.environments == "official":
                cannot.append(f"{inst.instance_id}: {target}")
            table.add_row(_text(inst.instance_id), _text("rebuild"), _text(target or "-"), "")
            continue
        if image_exists(target.image):
            table.add_row(_text(inst.instance_id), _text("official (local)"), _text(target.image), "0")
            continue
        try:
            size = registry_size(target.image)
        except DgmError as exc:
            unknown += 1
            if options.environments == "official":
                cannot.append(f"{target.image} at {registry_of(target.image)}")
            where = "rebuild" if options.environments == "auto" else "none"
            first_error = first_error or str(exc.message)
            table.add_row(_text(inst.instance_id), _text(where), _text(target.image), "not found")
            continue
        total += size
        table.add_row(_text(inst.instance_id), _text("official (pull)"), _text(target.image), f"{size / 1e6:,.0f} MB")
    console = Console()
    console.print(table)
    disk = engine_disk()
    free = f", {disk['free'] / 1e9:,.1f} GB free in {disk['root']}" if "free" in disk else ""
    console.print(_text(f"would pull {total / 1e6:,.0f} MB (compressed){free}"
                        + (f"; {unknown} image(s) not found in a registry" if unknown else "")))
    if first_error:
        console.print(_text(f"first: {first_error[:300]}"))
    if cannot:
        raise BadInput(f"environments = official, but no official image for {cannot[0]}"
                       + (f" (+{len(cannot) - 1} more)" if len(cannot) > 1 else ""))
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
        from dgm.bench.failures import keeps_its_reason

        if keeps_its_reason(env):  # refused or failed to build: nothing to validate, its reason stands
            return env
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

    if len(results) > 1:
        Console().print(_summary_table(results, f"dgm bench validate: {len(results)} instance(s)"))
    return _shortfalls_exit(results, validated=True)


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
    _record_paths(summary, store)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(_rate_prefix(store, predictions) + f"resolved {summary['resolved_instances']}/{summary['total_instances']}"
              f"  (empty {summary['empty_patch_instances']}, errors {summary['error_instances']})"
              f"  report: {summary['summary_path']}")
    return 0


def _record_paths(summary: dict, store: BenchStore) -> None:
    """The run's summary keeps which environment path each graded instance took."""
    path = Path(summary.get("summary_path") or "")
    if not path.is_file():
        return
    ids = set(summary.get("submitted_ids") or summary.get("completed_ids") or [])
    paths = {}
    for iid in sorted(ids):
        env = store.get(iid)
        paths[iid] = path_of(env) if env else ""
    data = json.loads(path.read_text())
    data["dgm_environments"] = paths
    path.write_text(json.dumps(data, indent=4) + "\n")
    summary["dgm_environments"] = paths


def _rate_prefix(store: BenchStore, predictions) -> str:
    """"SWE-bench Lite (rebuilt from releases): " when the graded environments are rebuilt ones."""
    from dgm.bench.labels import rate_label

    label = rate_label(e for e in (store.get(p.instance_id) for p in predictions) if e is not None)
    return f"{label}: " if label else ""


def _leak_mark(env: TaskEnvironment) -> str:
    """'leaks: TERM, ...' for an instance whose hint scan still found terms of the fix, else ''."""
    if not env.leaks:
        return ""
    found = env.notes["hints"].get("found")
    terms = sorted(found) if isinstance(found, dict) else []
    shown = ", ".join(str(t) for t in terms[:3]) + (" …" if len(terms) > 3 else "")
    return f"leaks: {shown}" if shown else "leaks"


def cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    store = _store(args)
    envs = store.environments(args.status)
    if args.json:
        from dataclasses import asdict

        print(json.dumps([{**asdict(e), "path": path_of(e), "leaks": e.leaks} for e in envs], indent=1))
        return 0
    if not envs:
        print(inert(f"no instances in {store.manifest_path}"))
        return 0
    table = Table(title=_text(store.manifest_path))
    for col in ("instance", "repo", "status", "leaks", "path", "image", "detail"):
        table.add_column(col, overflow="fold")
    for e in envs:
        # An instance whose tree still names what only its fix defines: evolve skips it.
        leak = _leak_mark(e)
        table.add_row(_text(e.instance_id), _text(e.repo), _text(e.status, _status_style(e.status)),
                      _text(leak, "yellow" if leak else ""), _text(path_of(e)), _text(e.image), _text(e.detail))
    console = Console()
    console.print(table)
    console.print(_summary_table(envs, "summary"))
    return 0
