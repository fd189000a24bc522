"""Handlers of `dgm archive ...` verbs (argparse definitions live in cli.py)."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from dgm.errors import BadInput, DgmError, NotAnArchive
from dgm.locks import RunLock, refuse_if_held
from dgm.terminal import inert

if TYPE_CHECKING:
    from rich.text import Text

    from dgm.archive import Archive, Node


def default_seed() -> Path:
    """agents_archive/seed at the root of the checkout dgm is installed from."""
    import dgm

    return Path(dgm.__file__).resolve().parent.parent / "agents_archive" / "seed"


@contextmanager
def opened(directory: str) -> Iterator["Archive"]:
    """Open an archive for a verb; a damaged index becomes a one-line bad-input error."""
    from dgm.archive import Archive

    try:
        with Archive.open(Path(directory)) as archive:
            yield archive
    except sqlite3.DatabaseError as exc:
        raise NotAnArchive(f"the index of {directory} is corrupted ({exc})",
                           hint=f"run `dgm archive fsck {directory}`") from None


def _console():
    from rich.console import Console

    # Off a terminal rich would squeeze tables into 80 columns; pipes get wide lines.
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, sort_keys=True))


def cmd_init(args: argparse.Namespace) -> int:
    from dgm.archive import Archive

    if args.seed:
        seed = Path(args.seed)
    else:
        seed = default_seed()
        if not seed.is_dir():
            raise BadInput(f"default seed agent {seed} does not exist",
                           hint="pass --seed PATH to an agent tree")
    if not seed.is_dir():
        raise BadInput(f"seed tree {seed} does not exist or is not a directory",
                       hint="pass --seed PATH to an agent tree")
    refuse_if_held(Path(args.dir))
    with Archive.create(Path(args.dir), seed) as archive:
        root = archive.get("0")
        print(f"created archive {args.dir}: node 0 = commit {root.commit[:12]} (seed {seed})")
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    if args.score is not None and not 0.0 <= args.score <= 1.0:
        raise BadInput(f"--score {args.score} is outside [0, 1]", hint="give a fraction resolved")
    # A node added under a live evolve run would be one the loop does not know: the run's owner writes it.
    with opened(args.dir) as archive, RunLock.acquire(Path(args.dir), what="dgm archive add"):
        node = archive.add_node(args.parent, Path(args.tree), status=args.status,
                                improvement_task=args.task, score=args.score,
                                meta={"source": "dgm archive add"})
        if args.json:
            _print_json(node.to_dict())
        else:
            print(inert(f"added node {node.id} (parent {node.parent_id}, generation {node.generation}, "
                        f"{node.status}, commit {node.commit[:12]})", lines=False))
    return 0


def _fmt_score(score: float | None) -> str:
    return "-" if score is None else f"{score:.3f}"


def _cell(value: object) -> "Text":
    """A table cell that is never rich markup and never a terminal control (statuses can carry reasons)."""
    from rich.text import Text

    return Text(inert(value, lines=False))


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    with opened(args.dir) as archive:
        nodes = archive.nodes(args.status)
        if getattr(args, "verdict", None):
            from dgm.scheduler.verdicts import verdict_of

            nodes = [n for n in nodes if (v := verdict_of(n.status)) is not None and v.value == args.verdict]
        if args.json:
            _print_json([n.to_dict() for n in nodes])
            return 0
        counts = archive.children_counts()
    table = Table(title=_cell(f"archive {args.dir}: {len(nodes)} node(s)"))
    for col in ("id", "parent", "gen", "status", "score", "tasks", "children", "cost $", "created"):
        table.add_column(col, justify="right" if col in ("id", "gen", "score", "tasks",
                                                          "children", "cost $") else "left")
    for n in nodes:
        table.add_row(*map(_cell, (n.id, n.parent_id or "-", n.generation, n.status, _fmt_score(n.score),
                                   n.evaluated_count, counts.get(n.id, 0), f"{n.cost_usd:.2f}", n.created_at)))
    _console().print(table)
    return 0


def format_record(node: "Node", n_children: int) -> str:
    """The human-readable record printed by `dgm archive show`, inert: model text cannot drive the terminal."""
    # A multi-line improvement task is indented under its label, so it cannot fake a field of its own.
    improvement = "\n                  ".join(inert(node.improvement_task or "-").splitlines() or ["-"])
    lines = [
        f"node {node.id}",
        f"  commit          {node.commit}",
        f"  parent          {node.parent_id or '- (root)'}",
        f"  generation      {node.generation}",
        f"  status          {inert(node.status, lines=False)}",
        f"  score           {_fmt_score(node.score)} "
        f"({node.resolved_count}/{node.evaluated_count} resolved)",
        f"  stage scores    {json.dumps(node.stage_scores, sort_keys=True)}",
        f"  children        {n_children}",
        f"  tokens in/out   {node.tokens_in} / {node.tokens_out}",
        f"  cost            ${node.cost_usd:.4f}",
        f"  wall time       {node.wall_seconds:.1f} s",
        f"  created         {node.created_at}",
        f"  updated         {node.updated_at}",
        f"  improvement     {improvement}",
    ]
    if node.diagnosis is not None:
        lines.append("  diagnosis")
        lines.extend("    " + l for l in json.dumps(node.diagnosis, indent=2).splitlines())
    if node.results:
        lines.append("  results")
        for iid, r in sorted(node.results.items()):
            flags = ["resolved" if r.get("resolved") else "unresolved"]
            if r.get("empty_patch"):
                flags.append("empty patch")
            if "stage" in r:
                flags.append(f"stage {r['stage']}")
            lines.append(f"    {inert(iid, lines=False)}: {', '.join(flags)}")
    if node.meta:
        lines.append(f"  meta            {json.dumps(node.meta, sort_keys=True)}")
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace) -> int:
    with opened(args.dir) as archive:
        node = archive.get(args.node)
        diff = None
        if not args.no_diff and node.parent_id is not None:
            diff = archive.diff(node.parent_id, node.id)
        n_children = len(archive.children(node.id))
        if args.json:
            _print_json({**node.to_dict(), "children": n_children, "diff": diff})
            return 0
    print(format_record(node, n_children))
    if not args.no_diff:
        print()
        if node.parent_id is None:
            print("(root node: no parent to diff against)")
        else:
            print(f"diff against parent {node.parent_id}:")
            print(inert(diff) or "(identical trees)", end="" if diff else "\n")
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    with opened(args.dir) as archive:
        sys.stdout.write(inert(archive.diff(args.a, args.b)))
    return 0


def cmd_lineage(args: argparse.Namespace) -> int:
    from dgm.archive import lineage

    fmt = args.format
    with opened(args.dir) as archive:
        if fmt in ("html", "png"):
            return _render_report(archive, fmt, args)
        archive.get(args.root)
        g = archive.graph()
    if args.root != "0":
        g = lineage.subtree(g, args.root)
    if fmt == "tree":
        if args.depth is not None and args.depth < 0:
            raise BadInput(f"--depth {args.depth} is negative", hint="give a depth >= 0")
        _console().print(lineage.render_tree(g, args.root, args.depth))
        return 0
    text = lineage.EXPORTERS[fmt](g)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {fmt} lineage of {g.number_of_nodes()} node(s) to {args.output}")
    else:
        sys.stdout.write(inert(text))  # the file keeps the exporter's bytes; a terminal gets them inert
    return 0


def _render_report(archive: "Archive", fmt: str, args: argparse.Namespace) -> int:
    try:
        from dgm.report.lineage import write_html, write_png
    except ModuleNotFoundError as exc:
        if exc.name and "dgm.report.lineage".startswith(exc.name):
            raise DgmError(f"--format {fmt} needs the report module (dgm.report.lineage), "
                           "which is missing from this installation",
                           hint="use --format json, graphml or dot") from None
        raise
    out = Path(args.output) if args.output else archive.path / f"lineage.{fmt}"
    written = (write_html if fmt == "html" else write_png)(archive, out)
    print(f"wrote {fmt} lineage to {written}")
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    from dgm.archive.fsck import format_report, fsck

    report = fsck(Path(args.dir), git_objects=not args.fast)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(inert(format_report(report)))
    return 0 if report.ok else 1
