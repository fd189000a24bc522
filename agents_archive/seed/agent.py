"""Entry point of the seed agent (ABI dgm-agent-1).

    python3 agent.py --task /io/task.json --repo /testbed --out /io/out

Exit codes: 0 submitted, 3 a limit was reached, 1 an error. The trajectory is written to
OUT/trajectory.json after every step and the outcome to OUT/result.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from coder.loop import Agent, Limits, LimitsExceeded
from coder.model import Model, ModelError
from coder.tools import Toolbox
from coder.trajectory import Trajectory, write_json

ABI = "dgm-agent-1"
EXIT_CODES = {"submitted": 0, "limit": 3, "error": 1}


def parse_args(argv):
    parser = argparse.ArgumentParser(description="The seed coding agent (ABI %s)." % ABI)
    parser.add_argument("--task", required=True, help="task JSON: instance_id, problem_statement, limits")
    parser.add_argument("--repo", required=True, help="the repository to fix")
    parser.add_argument("--out", required=True, help="directory for trajectory.json and result.json")
    return parser.parse_args(argv)


def on_sigterm(signum, frame):
    # Turn the engine's stop request into a normal limit exit, so the trajectory is finished.
    raise LimitsExceeded("terminated by signal %d" % signum)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    try:
        with open(args.task) as fh:
            task = json.load(fh)
        instance_id = str(task.get("instance_id", ""))
        problem = str(task["problem_statement"])
        limits = Limits.from_task(task)
        model = Model.from_env()
    except (OSError, ValueError, KeyError, TypeError, ModelError) as exc:
        outcome = {"status": "error", "reason": "bad task or environment: %s" % exc}
        write_json(os.path.join(args.out, "result.json"), outcome)
        print(outcome["reason"], file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, on_sigterm)
    trajectory = Trajectory(args.out, instance_id, [])
    tools = Toolbox(os.path.abspath(args.repo))
    outcome = Agent(model, tools, trajectory, limits).run(problem, os.path.abspath(args.repo))
    write_json(os.path.join(args.out, "result.json"), outcome)
    print("%s: %s" % (outcome["status"], outcome["reason"][:200]), file=sys.stderr)
    return EXIT_CODES.get(outcome["status"], 1)


if __name__ == "__main__":
    sys.exit(main())
