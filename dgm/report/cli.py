"""`dgm report RUN`: write the self-contained HTML report of a run."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write a self-contained HTML report of a run",
        description=("Write one self-contained HTML file (opens from disk, no server, no network) with the "
                     "lineage tree, a panel per node (record, diagnosis, diff against its parent, task "
                     "results), the progress and cost plots, and summary statistics. PNG and SVG versions "
                     "of the plots are written next to it."),
    )
    p.add_argument("run", type=Path, metavar="RUN", help="run directory (the archive)")
    p.add_argument("--output", "-o", type=Path, metavar="FILE",
                   help="where to write the HTML (default: RUN/report.html)")
    p.add_argument("--open", action="store_true", help="open the report in the default web browser")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from dgm.archive import Archive
    from dgm.errors import BadInput
    from dgm.report.page import write_report

    archive = Archive.open(args.run)
    out = args.output or args.run / "report.html"
    if out.exists() and out.is_dir():
        raise BadInput(f"--output {out} is a directory", hint="give a file name such as report.html")
    path = write_report(archive, out)
    print(path)
    if args.open:
        import webbrowser

        webbrowser.open(path.resolve().as_uri())
    return 0
