"""The `dgm` command: one argparse tree, each room registering its own subcommands.

Rooms' CLI modules hold only argparse definitions and import their heavy machinery
(docker, litellm, swebench) inside the handlers, so `dgm --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from typing import Callable, Sequence

from dgm import __version__
from dgm.errors import DgmError
from dgm.terminal import inert

# A module exposes `register(subparsers)`, adding one or more
# subcommands whose parsers set `func=handler(args) -> int`.
COMMANDS: list[str] = [
    "dgm.archive.cli",
    "dgm.sandbox.cli",
    "dgm.agent.cli",
    "dgm.bench.cli",
    "dgm.evolve.cli",
    "dgm.report.cli",
    "dgm.serve.cli",
    "dgm.replay.cli",
    "dgm.simulate.cli",
    "dgm.science.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dgm",
        description=(
            "dgm: a Darwin Gödel Machine. An archive of coding-agent variants grows by "
            "self-modification; every child is verified on SWE-bench-format tasks in Docker."
        ),
    )
    parser.add_argument("--version", action="version", version=f"dgm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS:
        importlib.import_module(module_name).register(sub)
    return parser


def run(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Call a handler, turning DgmErrors into one-line messages and exit codes."""
    # Messages and tracebacks embed what was refused or failed (a path, a reason, a sandbox's output),
    # so they are printed inert like every other text a sandbox or a model produced.
    try:
        return int(handler(args) or 0)
    except DgmError as exc:
        if getattr(args, "debug", False) or os.environ.get("DGM_DEBUG"):
            sys.stderr.write(inert(traceback.format_exc()))
        print(f"dgm: error: {inert(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("dgm: interrupted", file=sys.stderr)
        return 130
    except Exception:  # a bug: its traceback is for a report, but still never drives the terminal
        sys.stderr.write(inert(traceback.format_exc()))
        return 1


def main(argv: Sequence[str] | None = None, *, prog_args: Sequence[str] = ()) -> int:
    """Entry point. `prog_args` lets `python -m dgm.archive` act as `dgm archive`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args([*prog_args, *argv])
    if not getattr(args, "func", None):
        parser.print_help()
        return 2 if args.command is None else 0
    return run(args.func, args)
