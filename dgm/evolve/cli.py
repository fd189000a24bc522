"""`dgm evolve` (= `python -m dgm.evolve`): argparse only; the loop is imported by the handler."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `evolve` command."""
    from dgm.evolve.config import help_text

    p = subparsers.add_parser(
        "evolve",
        help="run the Darwin Gödel Machine loop: select, diagnose, self-modify, verify, admit",
        description=(
            "Grow an archive of agent variants. Each iteration selects parents, has a model diagnose "
            "their failures, lets each parent rewrite its own code in a sandbox, and admits the child "
            "only after stage 0 (compiles, own tests pass, still edits code) and the gated task stages. "
            "Configuration: defaults < CONFIG file < -c overrides. Example: "
            "python -m dgm.evolve -c models.task.model=anthropic/claude-sonnet-4-5 "
            "-c dataset.path=tasks.jsonl -c run.dir=runs/first"),
        epilog=help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", nargs="?", type=Path, metavar="CONFIG",
                   help="TOML (or YAML) config file; relative paths in it resolve against its folder")
    p.add_argument("-c", "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key (repeatable); the value parses as TOML, e.g. "
                        "-c 'dataset.stages=[10, 50]' -c budget.usd=5")
    p.add_argument("--resume", nargs="?", const=True, default=None, type=Path, metavar="RUN",
                   help="continue the run in RUN (or in run.dir): its saved config is used; only "
                        "iterations, workers and budgets may change")
    p.add_argument("--show-config", action="store_true", help="print the resolved config as TOML and exit")
    p.add_argument("--no-live", action="store_true", help="plain log lines even on a terminal")
    p.set_defaults(func=cmd_evolve)


def cmd_evolve(args: argparse.Namespace) -> int:
    from dgm.evolve import config_io, options

    resume = args.resume if isinstance(args.resume, Path) else bool(args.resume)
    config = options.resolve(args.config, args.overrides, resume=resume, complete=not args.show_config)
    if args.show_config:
        print(config_io.dumps(config), end="")
        return 0
    from dgm.evolve.run import evolve

    return evolve(config, live=False if args.no_live else None)
