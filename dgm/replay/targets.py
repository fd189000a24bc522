"""What a replay runs: a node's agent on a task instance, or the self-modification that made a node
(its parent's agent working on a copy of its own code, with the node's improvement task)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dgm.errors import AgentFailure, BadInput
from dgm.replay import setup

# Build residue the agent may leave while testing itself (as the loop excludes it).
SELFMOD_EXCLUDE = "__pycache__/\n*.pyc\n.pytest_cache/\n"


@dataclass
class Target:
    """One agent run to reproduce, and where its recorded original lives."""

    label: str
    agent_node: str                  # the node whose agent tree runs
    task_dir: Path                   # the recorded run's artifacts
    image: str
    problem_statement: str
    instance_id: str
    role: str                        # model role the relay binds ("task" or "selfmod")
    limits: Any                      # dgm.agent.AgentLimits
    repo_setup: Callable[[Any], None] | None = None
    instance: Any = None             # dgm.bench TaskInstance, for grading (None: nothing to grade)
    environment: Any = None


def task_target(run_dir: Path, node: Any, instance_id: str, config: dict, *, dataset: Path | None,
                store: Path | None, limits: dict) -> Target:
    instance = setup.load_instance(dataset, config, instance_id)
    env = setup.load_environment(store, config, instance)
    return Target(label=instance_id, agent_node=node.id, task_dir=run_dir / "artifacts" / node.id / "tasks" / instance_id,
                  image=env.image, problem_statement=instance.problem_statement, instance_id=instance_id,
                  role="task", limits=setup.agent_limits(config, "task", **limits), instance=instance,
                  environment=env)


def selfmod_target(run_dir: Path, archive: Any, node: Any, config: dict, *, scratch: Path, limits: dict) -> Target:
    """The parent's agent, its own code as the repository, the node's improvement task as the issue."""
    from dgm.agent import ensure_agent_image

    if node.parent_id is None:
        raise BadInput(f"node {node.id} is the root: no self-modification made it", hint="pick a child node")
    if not node.improvement_task:
        raise BadInput(f"node {node.id} has no improvement task recorded", hint="it was not made by the loop")
    parent_tree = archive.checkout(node.parent_id, scratch / "own-code")

    def repo_setup(box: Any) -> None:
        box.put_tree(parent_tree, "/testbed")
        box.put_file("/tmp/dgm-exclude", SELFMOD_EXCLUDE.encode())
        result = box.exec(
            "cd /testbed && git init -q && cp /tmp/dgm-exclude .git/info/exclude && git add -A && "
            "git -c user.name=dgm -c user.email=dgm@localhost commit -q -m parent --no-gpg-sign", timeout=120)
        if not result.ok:
            raise AgentFailure(f"could not prepare the agent's own code as a repository: {result.output[-500:]}")

    return Target(label=f"the self-modification that made node {node.id}", agent_node=node.parent_id,
                  task_dir=run_dir / "artifacts" / node.id / "selfmod", image=ensure_agent_image(),
                  problem_statement=node.improvement_task, instance_id=f"selfmod-replay-{node.id}",
                  role="selfmod", limits=setup.agent_limits(config, "selfmod", **limits), repo_setup=repo_setup)

