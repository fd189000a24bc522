"""`dgm replay`: one agent on one instance, live or from its recorded log; or print a trajectory."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Ways to look at what an agent did:
  dgm replay --run RUN --node NODE --instance ID    run that node's agent on that instance in a fresh
                                                    sandbox, stream its steps, grade the result
  dgm replay --run RUN --node NODE --instance ID --from-log
                                                    the same, but the model's answers are the recorded
                                                    ones (no model is called): the same steps, the same patch
  dgm replay --run RUN --node NODE --selfmod [--from-log]
                                                    replay the self-modification that made NODE: its
                                                    parent's agent working on its own code
  dgm replay --trajectory FILE [--full]             pretty-print a trajectory.json
Replays are written under RUN/artifacts/<node>/replays/<timestamp>/."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay", help="replay one agent on one task instance, or print a trajectory",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trajectory", type=Path, metavar="FILE", help="print this trajectory.json and exit")
    p.add_argument("--full", action="store_true", help="do not cut long thoughts, arguments and outputs")
    p.add_argument("--run", type=Path, metavar="RUN", help="run directory (the archive)")
    p.add_argument("--node", metavar="NODE", help="node id whose agent to run")
    p.add_argument("--instance", metavar="ID", help="task instance id")
    p.add_argument("--selfmod", action="store_true",
                   help="instead of a task: the self-modification that made NODE (recorded in RUN/artifacts/NODE/selfmod)")
    p.add_argument("--dataset", type=Path, metavar="FILE",
                   help="SWE-bench-format task file (default: the run's dataset.path)")
    p.add_argument("--store", type=Path, metavar="DIR",
                   help="bench store with the built environments (default: the run's, else $DGM_HOME/bench)")
    p.add_argument("--from-log", action="store_true",
                   help="serve the recorded model responses of RUN/artifacts/NODE/tasks/ID (or /selfmod) back; "
                        "no model calls")
    p.add_argument("--log", type=Path, metavar="FILE",
                   help="with --from-log: the llm_calls.jsonl to replay (default: the task's, else the run's)")
    p.add_argument("--account", metavar="NAME", help="with --from-log: keep only this account's calls of --log")
    p.add_argument("--model", metavar="MODEL", help="litellm model string (default: the run's models.task)")
    p.add_argument("--api-base", metavar="URL", help="provider base URL (OpenAI-compatible servers)")
    p.add_argument("--api-key-env", metavar="VAR", help="name of the host environment variable holding the key")
    p.add_argument("--tokens-only", action="store_true", help="accept a model without a price (cost counted as 0)")
    p.add_argument("--scripted", type=Path, metavar="FILE", help="answer from a JSON model script (offline)")
    p.add_argument("--max-steps", type=int, metavar="N", help="agent steps (default: the run's limits.task)")
    p.add_argument("--max-seconds", type=float, metavar="S", help="agent wall seconds")
    p.add_argument("--max-usd", type=float, metavar="USD", help="dollars for this replay")
    p.add_argument("--no-grade", action="store_true", help="do not grade the patch")
    p.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from rich.console import Console

    from dgm.errors import BadInput

    console = Console(highlight=False)
    if args.trajectory is not None:
        return _print_trajectory(args.trajectory, console, full=args.full)
    missing = [flag for flag, value in (("--run", args.run), ("--node", args.node),
                                        ("--instance", args.instance or args.selfmod)) if not value]
    if missing:
        raise BadInput(f"missing {', '.join(missing)}",
                       hint="dgm replay --run RUN --node NODE --instance ID, or dgm replay --trajectory FILE")
    if args.selfmod and args.instance:
        raise BadInput("give --instance ID or --selfmod, not both")
    if (args.log or args.account) and not args.from_log:
        raise BadInput("--log and --account only make sense with --from-log")
    if args.from_log and (args.model or args.scripted):
        raise BadInput("--from-log serves the recorded responses: drop --model/--scripted")
    from dgm.replay.session import ReplayRequest, replay

    result = replay(ReplayRequest(
        run_dir=args.run, node_id=str(args.node), instance_id=args.instance, selfmod=args.selfmod,
        dataset=args.dataset, store=args.store,
        model=args.model, api_base=args.api_base, api_key_env=args.api_key_env, tokens_only=args.tokens_only,
        scripted=args.scripted, from_log=args.from_log, log=args.log, account=args.account,
        grade=not args.no_grade, full=args.full, max_steps=args.max_steps, max_seconds=args.max_seconds,
        max_usd=args.max_usd), console)
    console.print(f"replay written to {result.out_dir}")
    if args.from_log and result.same_patch is False:
        return 1
    return 0


def _print_trajectory(path: Path, console, *, full: bool) -> int:
    from dgm.artifacts import ArtifactInvalid, read_trajectory
    from dgm.errors import BadInput
    from dgm.replay.render import print_trajectory

    try:
        traj = read_trajectory(path)
    except FileNotFoundError:
        raise BadInput(f"--trajectory {path}: no such file", hint="give a trajectory.json") from None
    except ArtifactInvalid as exc:
        raise BadInput(f"--trajectory {exc.about(str(path))}",
                       hint="give a dgm-trajectory-1 file, as an agent run leaves it") from None
    print_trajectory(traj, console, full=full)
    return 0
