"""run_agent: one agent tree, one task, one fresh sandbox; every failure of the agent is a status."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from dgm.agent.task import ENTRY, scratch_dir, stage_tree, task_document, write_task_file
from dgm.artifacts import ArtifactInvalid
from dgm.artifacts.trajectory import (RESULT_CAP, TRAJECTORY_CAP, TRAJECTORY_FORMAT, AgentResult, Trajectory,
                                      parse_result, parse_trajectory)

if TYPE_CHECKING:  # the runtime imports are inside run_agent: docker and litellm are heavy
    from dgm.llm import Relay
    from dgm.sandbox import Limits, Sandbox

__all__ = ["TRAJECTORY_FORMAT", "TRAJECTORY_CAP", "RESULT_CAP", "AgentLimits", "AgentRun", "run_agent", "classify"]
LOG_CAP = 256_000             # characters of agent stdout/stderr kept in AgentRun.log
EXIT_LIMIT = 3
STATUSES = ("submitted", "limit", "error", "timeout", "crashed", "killed")
# Untracked residue of building and testing: never part of an answer, often binary.
RESIDUE = ["__pycache__/", "*.py[cod]", ".pytest_cache/", "*.egg-info/", ".eggs/", "*.so", ".tox/",
           ".mypy_cache/", ".coverage"]


@dataclass
class AgentLimits:
    """What the agent is told (and the engine enforces): steps, wall seconds, dollars."""

    max_steps: int = 50
    max_seconds: float = 1800.0
    max_usd: float | None = None


@dataclass
class AgentRun:
    """The outcome of one agent run; `status` is one of STATUSES."""

    status: str
    exit_code: int | None
    patch: str              # full diff of the repository against base_commit (test files included)
    trajectory: dict | None
    usage: dict             # tokens_in, tokens_out, cost_usd, calls (this run's relay token only)
    log: str                # agent stdout/stderr (capped)
    seconds: float
    reason: str = ""        # why this status, in one line
    base_commit: str | None = None
    notes: list[str] = field(default_factory=list)   # what went wrong collecting outputs

    def summary(self) -> dict:
        """Everything but the bulky fields, for run.json."""
        data = asdict(self)
        for bulky in ("patch", "trajectory", "log"):
            data.pop(bulky)
        data["patch_bytes"] = len(self.patch.encode())
        return data


def grace_seconds(max_seconds: float) -> float:
    """Time past the agent's own limit before the engine kills it (it needs a moment to save)."""
    return min(60.0, max(5.0, 0.1 * max_seconds))


def run_agent(agent_tree: Path, *, image: str, problem_statement: str, instance_id: str,
              relay: "Relay", run_id: str, account: str, limits: AgentLimits,
              sandbox_limits: "Limits | None" = None,
              repo_setup: "Callable[[Sandbox], None] | None" = None,
              out_dir: Path | None = None, role: str = "task") -> AgentRun:
    """Run AGENT_TREE's agent.py on a task in a fresh sandbox with the relay attached.

    The tree is mounted read-only at /agent, the task file at /io/task.json; the patch is
    computed inside the sandbox against the repository's HEAD as it was before the run.
    """
    from dgm.sandbox import Limits, Mount, Sandbox

    started = time.monotonic()
    timeout = limits.max_seconds + grace_seconds(limits.max_seconds)
    box_limits = sandbox_limits or Limits(wall_seconds=timeout + 600, exec_seconds=600)
    scratch = scratch_dir()
    token = None
    try:
        tree = stage_tree(Path(agent_tree), scratch)
        task_file = write_task_file(scratch, task_document(
            instance_id, problem_statement, max_steps=limits.max_steps, max_seconds=limits.max_seconds,
            max_usd=limits.max_usd))
        before = _usage_of(relay, account)
        record = Path(out_dir) / "llm_calls.jsonl" if out_dir is not None else None
        if record is not None:
            record.parent.mkdir(parents=True, exist_ok=True)
        token = relay.issue_token(account, role=role, budget_usd=limits.max_usd, record_path=record)
        env = {"DGM_RELAY_TOKEN": token, "DGM_MODEL": relay.gateway.settings_for(role).model,
               "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/home/agent"}
        mounts = [Mount(tree, "/agent"), Mount(task_file, "/io/task.json")]
        with Sandbox.start(image, run_id=run_id, limits=box_limits, mounts=mounts,
                           relay_dir=relay.socket_dir, workdir="/testbed") as box:
            if repo_setup is not None:
                repo_setup(box)
            run = _run_in(box, env, timeout)
        relay.revoke(token)
        token = None
        run.usage = _usage_delta(before, _usage_of(relay, account))
        run.seconds = round(time.monotonic() - started, 3)
        if out_dir is not None:
            write_outputs(run, Path(out_dir))
        return run
    finally:
        if token is not None:
            relay.revoke(token)
        shutil.rmtree(scratch, ignore_errors=True)


def _run_in(box: "Sandbox", env: dict[str, str], timeout: float) -> AgentRun:
    """Inside a started sandbox: note the base commit, run the agent, collect its outputs."""
    from dgm.errors import AgentFailure, SandboxError

    notes: list[str] = []
    head = box.exec(["git", "rev-parse", "--verify", "HEAD"], timeout=60)
    base = head.output.strip() if head.ok and len(head.output.strip()) == 40 else None
    if base is None:
        notes.append(f"no git HEAD in /testbed before the run ({head.output.strip()[:200]}); no patch")
    else:
        exclude = "\n".join(["", "# dgm: build and test residue", *RESIDUE, ""])
        box.put_file("/tmp/dgm-residue", exclude.encode())
        box.exec('info="$(git rev-parse --git-path info)" && mkdir -p "$info" '
                 '&& cat /tmp/dgm-residue >> "$info/exclude"', timeout=60)
    argv = ["python3", f"/agent/{ENTRY}", "--task", "/io/task.json", "--repo", "/testbed", "--out", "/io/out"]
    try:
        res = box.exec(argv, timeout=timeout, env=env)
        exit_code, output, timed_out, oom = res.exit_code, res.output, res.timed_out, res.oom_killed
        if res.truncated:
            notes.append(f"agent output over {box.limits.output_bytes} bytes: the rest was dropped")
    except SandboxError as exc:  # the container died under the agent (wall clock, engine kill)
        exit_code, output, timed_out, oom = None, "", True, False
        notes.append(f"sandbox ended during the run: {exc}")
    patch = ""
    if base is not None:
        try:
            patch = box.git_diff("/testbed", base)
        except (AgentFailure, SandboxError) as exc:
            notes.append(f"no patch: {exc}")
    trajectory, invalid = _collect_trajectory(box, notes)
    result, result_invalid = _collect_result(box, notes)
    status, reason = classify(exit_code, timed_out, oom, trajectory, result, timeout, invalid=invalid or result_invalid)
    return AgentRun(status=status, exit_code=exit_code, patch=patch,
                    trajectory=trajectory.to_json() if trajectory is not None else None, usage={},
                    log=cap_log(output), seconds=0.0, reason=reason, base_commit=base, notes=notes)


def classify(exit_code: int | None, timed_out: bool, oom: bool, trajectory: Trajectory | None,
             result: AgentResult | None, timeout: float, *, invalid: str = "") -> tuple[str, str]:
    """The run's status and a one-line reason, from what the sandbox saw and what the agent wrote.

    INVALID names an output the agent left but that breaks the ABI: the run crashed, whatever it says."""
    said: AgentResult | Trajectory | None = trajectory
    if result is not None and (result.status or result.reason):
        said = result
    said_reason = (said.reason if said is not None else "")[:500]
    if oom:
        return "killed", "killed by the kernel: out of memory"
    if timed_out:
        return "timeout", f"still running after {timeout:.0f} s; killed"
    if invalid:
        return "crashed", invalid[:500]
    if trajectory is None and exit_code in (0, EXIT_LIMIT):
        return "crashed", f"exited {exit_code} without a readable trajectory.json"
    if exit_code == 0:
        return "submitted", said_reason
    if exit_code == EXIT_LIMIT:
        return "limit", said_reason
    if said is not None and said.status == "error":
        return "error", said_reason or f"agent reported an error (exit {exit_code})"
    return "crashed", f"exited {exit_code} without reporting an error"


def _collect_trajectory(box: "Sandbox", notes: list[str]) -> tuple[Trajectory | None, str]:
    """trajectory.json, checked against its schema as it is read: (trajectory, "") or (None, why not)."""
    try:
        data = _fetch(box, "/io/out/trajectory.json", TRAJECTORY_CAP, notes)
        if data is None:
            notes.append("trajectory.json missing")
            return None, ""
        return parse_trajectory(data), ""
    except ArtifactInvalid as exc:
        why = exc.about("trajectory.json")
        notes.append(why)
        return None, why


def _collect_result(box: "Sandbox", notes: list[str]) -> tuple[AgentResult | None, str]:
    """result.json (optional): (result, "") or (None, why it is unusable)."""
    try:
        data = _fetch(box, "/io/out/result.json", RESULT_CAP, notes)
        return (parse_result(data) if data is not None else None), ""
    except ArtifactInvalid as exc:
        why = exc.about("result.json")
        notes.append(why)
        return None, why


def _fetch(box: "Sandbox", path: str, cap: int, notes: list[str]) -> bytes | None:
    """A file the agent wrote, if it is a regular file within CAP (ArtifactInvalid if not); None if absent."""
    from dgm.errors import SandboxError
    from dgm.sandbox.driver import UnreadableFile

    try:
        return box.get_file(path, max_bytes=cap, timeout=60)
    except FileNotFoundError:
        return None
    except UnreadableFile as exc:  # a link, FIFO, device, directory; too large; unreadable in time
        raise ArtifactInvalid(exc.what) from None
    except SandboxError as exc:  # the container is gone: nothing to read, not the agent's doing
        notes.append(f"{path.rsplit('/', 1)[-1]} not collected: {exc}")
        return None


def cap_log(text: str, cap: int = LOG_CAP) -> str:
    if len(text) <= cap:
        return text
    half = cap // 2
    return text[:half] + f"\n[... {len(text) - cap} characters of agent output omitted ...]\n" + text[-half:]


def _usage_of(relay: "Relay", account: str) -> dict:
    return relay.gateway.ledger.usage(account).to_dict()


def _usage_delta(before: dict, after: dict) -> dict:
    return {"tokens_in": after["prompt_tokens"] - before["prompt_tokens"],
            "tokens_out": after["completion_tokens"] - before["completion_tokens"],
            "cost_usd": round(after["usd"] - before["usd"], 6),
            "calls": after["calls"] - before["calls"]}


def write_outputs(run: AgentRun, out_dir: Path) -> None:
    """trajectory.json, patch.diff, agent.log and run.json in OUT_DIR (the artifacts of one run)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if run.trajectory is not None:
        # Checked data only (the schema's types, no unpaired surrogates), so writing cannot fail.
        with open(out_dir / "trajectory.json", "w", encoding="utf-8") as fh:
            json.dump(run.trajectory, fh, indent=1)
    (out_dir / "patch.diff").write_text(run.patch, encoding="utf-8")
    (out_dir / "agent.log").write_text(run.log, encoding="utf-8")
    (out_dir / "run.json").write_text(json.dumps(run.summary(), indent=1), encoding="utf-8")


def load_run(out_dir: Path) -> dict[str, Any]:
    """run.json of a finished run (for reports and replays)."""
    return json.loads((Path(out_dir) / "run.json").read_text())
