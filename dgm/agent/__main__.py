"""`python -m dgm.agent run ...` is `dgm agent run ...`."""

from __future__ import annotations

import argparse
import sys

from dgm.agent import cli
from dgm.cli import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dgm.agent",
                                     description="Run an agent tree (ABI dgm-agent-1) in a sandbox.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    cli.add_verbs(parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not getattr(args, "agent_command", None):
        parser.print_help()
        return 2
    return run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
