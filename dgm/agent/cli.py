"""`dgm agent run`: try an agent tree on a repository by hand, in a sandbox, behind the relay."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    add_verbs(sub.add_parser("agent", help="run an agent tree on a task by hand",
                             description="Run an agent tree (ABI dgm-agent-1) in a sandbox."))


def add_verbs(agent: argparse.ArgumentParser) -> None:
    """The `agent` verbs, on the `dgm agent` parser or on `python -m dgm.agent`'s own."""
    verbs = agent.add_subparsers(dest="agent_command", metavar="VERB")
    run = verbs.add_parser("run", help="run an agent on a local git repository and keep its outputs",
                           description="Copy REPO into a fresh sandbox at /testbed, run the agent tree on "
                                       "PROBLEM with the model behind the relay, and write trajectory.json, "
                                       "patch.diff, agent.log, run.json and llm_calls.jsonl to --out.")
    run.add_argument("--tree", type=Path, default=None, help="agent tree (default: agents_archive/seed)")
    run.add_argument("--repo", type=Path, required=True, help="a local git repository (its HEAD is the base)")
    what = run.add_mutually_exclusive_group(required=True)
    what.add_argument("--problem", help="the problem statement")
    what.add_argument("--problem-file", type=Path, help="a file holding the problem statement")
    run.add_argument("--out", type=Path, required=True, help="directory for the run's outputs")
    model = run.add_mutually_exclusive_group(required=True)
    model.add_argument("--model", help="litellm model string, e.g. anthropic/claude-sonnet-4-5")
    model.add_argument("--script", type=Path, help="a JSON script for the scripted model server (offline)")
    run.add_argument("--api-base", help="model API base URL (e.g. a local OpenAI-compatible server)")
    run.add_argument("--api-key-env", help="name of the host environment variable holding the API key")
    run.add_argument("--tokens-only", action="store_true", help="accept a model without a price (cost 0)")
    run.add_argument("--image", help="sandbox image (default: the agent image, built on first use)")
    run.add_argument("--max-steps", type=int, default=30)
    run.add_argument("--max-seconds", type=float, default=900.0)
    run.add_argument("--max-usd", type=float, default=None)
    run.set_defaults(func=_run)
    agent.set_defaults(func=lambda args: (agent.print_help(), 2)[1])


def _run(args: argparse.Namespace) -> int:
    import shutil
    import tempfile
    import uuid

    from dgm.agent.images import ensure_agent_image
    from dgm.agent.runner import AgentLimits, run_agent
    from dgm.agent.task import SEED_TREE
    from dgm.errors import AgentFailure, BadInput
    from dgm.llm import Gateway, ModelSettings, Relay, ScriptedModelServer
    from dgm.terminal import inert

    tree = args.tree or SEED_TREE
    if not (tree / "agent.py").is_file():
        raise BadInput(f"agent tree {tree} has no agent.py", hint="give a directory holding agent.py")
    repo = args.repo.resolve()
    if not (repo / ".git").exists():
        raise BadInput(f"{repo} is not a git repository", hint="run `git init && git add -A && git commit` there")
    problem = args.problem if args.problem is not None else args.problem_file.read_text()
    server = None
    if args.script:
        server = ScriptedModelServer.from_file(args.script).start()
        settings = ModelSettings(model="openai/scripted", api_base=server.url, tokens_only=True)
    else:
        settings = ModelSettings(model=args.model, api_base=args.api_base, api_key_env=args.api_key_env,
                                 tokens_only=args.tokens_only)
    image = args.image or ensure_agent_image()
    run_id = f"agent-{uuid.uuid4().hex[:8]}"
    socket_dir = Path(tempfile.mkdtemp(prefix="dgm-relay-", dir="/tmp"))

    def setup(box) -> None:
        box.put_tree(repo, "/testbed")
        if not box.exec("git -C /testbed rev-parse --verify HEAD", timeout=60).ok:
            raise AgentFailure(f"{repo} has no commit to use as the base")

    try:
        with Relay(Gateway({"task": settings}, budget_usd=args.max_usd), socket_dir) as relay:
            run = run_agent(tree, image=image, problem_statement=problem, instance_id=repo.name, relay=relay,
                            run_id=run_id, account=f"agent:{run_id}",
                            limits=AgentLimits(args.max_steps, args.max_seconds, args.max_usd),
                            repo_setup=setup, out_dir=args.out)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)
    steps = len((run.trajectory or {}).get("steps") or [])
    # The reason and the notes are the agent's or the sandbox's words: shown, never obeyed by the terminal.
    print(f"status: {inert(run.status, lines=False)} (exit {run.exit_code}) {inert(run.reason[:200], lines=False)}")
    print(f"steps: {steps}  calls: {run.usage.get('calls')}  tokens: {run.usage.get('tokens_in')} in / "
          f"{run.usage.get('tokens_out')} out  cost: ${run.usage.get('cost_usd', 0):.4f}  {run.seconds:.1f} s")
    for note in run.notes:
        print(f"note: {inert(note, lines=False)}")
    print(f"patch: {len(run.patch.splitlines())} lines in {args.out / 'patch.diff'}")
    return 0 if run.status in ("submitted", "limit") else 1
