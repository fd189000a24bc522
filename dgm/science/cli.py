"""`dgm analyze RUN`: the run's instruments as a table, JSON or CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("table", "json", "csv")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze",
        help="the generation–verification gap, diversity and verifiers of a run",
        description=("Compute, from a run's archive and artifacts (finished or still running): the task "
                     "model's verification quality (accuracy, AUROC, Brier, calibration) and the "
                     "generation–verification gap with bootstrap intervals, per agent, per repository and "
                     "along the lineage; the diagnoses' fix and regression predictions scored; pass@k over "
                     "the archive, coverage, Jaccard distance, distinct solved sets and the collapse alarm; "
                     "each child's named verifiers and their non-overlap matrix; novelty; held-out scores; "
                     "and the instruments' own cost. See docs/science.md."),
    )
    p.add_argument("run", type=Path, metavar="RUN", help="run directory (the archive)")
    p.add_argument("--format", default="table", choices=FORMATS,
                   help="table (for reading), json (everything, for notebooks) or csv (section,item,quantity,value)")
    p.set_defaults(func=cmd_analyze)


def cmd_analyze(args: argparse.Namespace) -> int:
    import sys

    from dgm.archive import Archive
    from dgm.science.analyze import analysis, render
    from dgm.terminal import inert

    with Archive.open(args.run) as archive:
        text = render(analysis(archive), args.format)
    sys.stdout.write(text if args.format == "json" else inert(text))
    return 0
