"""One replay: a node's agent on one instance in a fresh sandbox, streamed, graded, kept under
RUN/artifacts/<node>/replays/<timestamp>/."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from dgm.errors import BadInput
from dgm.replay.follow import CallsFollower, read_trajectory
from dgm.replay.render import clean, clip


@dataclass
class ReplayRequest:
    """The command line of `dgm replay --run ...`, checked."""

    run_dir: Path
    node_id: str
    instance_id: str | None
    selfmod: bool = False
    dataset: Path | None = None
    store: Path | None = None
    model: str | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    tokens_only: bool = False
    scripted: Path | None = None
    from_log: bool = False
    log: Path | None = None
    account: str | None = None
    grade: bool = True
    full: bool = False
    max_steps: int | None = None
    max_seconds: float | None = None
    max_usd: float | None = None


@dataclass
class ReplayResult:
    """Where the replay was written and what came of it."""

    out_dir: Path
    status: str
    patch: str
    resolved: bool | None
    failing: list[str]
    same_patch: bool | None = None        # --from-log: identical to the recorded patch
    divergence: int | None = None         # --from-log: first model turn whose request differed


def replay_dir(run_dir: Path, node_id: str) -> Path:
    """A new RUN/artifacts/<node>/replays/<UTC timestamp>/ (suffixed if two start in one second)."""
    base = Path(run_dir) / "artifacts" / node_id / "replays"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for k in range(1000):
        path = base / (stamp if k == 0 else f"{stamp}-{k}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise BadInput(f"too many replays in {base} this second")


def replay(req: ReplayRequest, console: Console) -> ReplayResult:
    """Run the replay end to end and print it as it happens."""
    from dgm.archive import Archive
    from dgm.llm import Gateway, Relay, ScriptedModelServer
    from dgm.replay import setup
    from dgm.replay.recorded import load_recording
    from dgm.replay.targets import selfmod_target, task_target

    config = setup.run_config(req.run_dir)
    limits = {"max_steps": req.max_steps, "max_seconds": req.max_seconds, "max_usd": req.max_usd}
    scratch = Path(tempfile.mkdtemp(prefix="dgm-replay-"))  # short: unix socket paths are capped
    server = None
    try:
        with Archive.open(req.run_dir) as archive:
            node = archive.get(req.node_id)
            if req.selfmod:
                task_dir = req.run_dir / "artifacts" / node.id / "selfmod"
            else:
                task_dir = req.run_dir / "artifacts" / node.id / "tasks" / str(req.instance_id)
            recording = None
            if req.from_log:  # before anything slow: no recording, no replay
                recording = load_recording(task_dir, req.run_dir, read_trajectory(task_dir / "trajectory.json"),
                                           log=req.log, account=req.account)
            if req.selfmod:
                target = selfmod_target(req.run_dir, archive, node, config, scratch=scratch, limits=limits)
            else:
                target = task_target(req.run_dir, node, str(req.instance_id), config, dataset=req.dataset,
                                     store=req.store, limits=limits)
            settings, script_file = None, req.scripted
            if recording is None and script_file is None:
                settings, script_file = setup.model_settings(config, model=req.model, api_base=req.api_base,
                                                             api_key_env=req.api_key_env, tokens_only=req.tokens_only,
                                                             role=target.role)
            out = replay_dir(req.run_dir, node.id)
            tree = archive.checkout(target.agent_node, scratch / "agent")
        if recording is not None:
            from dgm.llm.script import Script

            server = ScriptedModelServer(Script(sequence=list(recording.responses))).start()
            console.print(Text(f"replaying {len(recording.responses)} recorded model response(s) from "
                               f"{recording.source}; no model is called", style="bold"))
        elif script_file is not None:
            server = ScriptedModelServer.from_file(script_file).start()
        if server is not None:
            settings = setup.scripted_settings(server.url, "recorded" if recording is not None else "scripted")
        gateway = Gateway({target.role: settings}, restore=False)
        console.print(Text(f"node {target.agent_node}'s agent on {target.label} · model {settings.model} · "
                           f"image {target.image} · writing {out}", style="bold"))
        with Relay(gateway, scratch / "relay") as relay:
            run = _run_streamed(console, req, tree, target, relay, out)
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    result = ReplayResult(out_dir=out, status=run.status, patch=run.patch, resolved=None, failing=[])
    _print_run(console, run)
    if recording is not None:
        _compare_with_recording(console, result, recording, task_dir, out)
    if req.grade and target.instance is not None:
        _grade(console, result, target.instance, target.environment, out)
    (out / "replay.json").write_text(json.dumps({
        "node": node.id, "agent_node": target.agent_node, "instance_id": req.instance_id, "selfmod": req.selfmod,
        "from_log": req.from_log, "status": run.status, "resolved": result.resolved, "failing": result.failing,
        "same_patch": result.same_patch, "divergence": result.divergence,
        "recording": recording.source if recording else None, "model": settings.model}, indent=1))
    return result


def _run_streamed(console: Console, req: ReplayRequest, tree: Path, target: Any, relay: Any, out: Path) -> Any:
    """run_agent in a worker thread while this thread prints each model turn as the relay records it."""
    from dgm.agent import run_agent

    box: dict[str, Any] = {}
    run_id = f"replay-{uuid.uuid4().hex[:10]}"

    def work() -> None:
        try:
            box["run"] = run_agent(tree, image=target.image, problem_statement=target.problem_statement,
                                   instance_id=target.instance_id, relay=relay, run_id=run_id,
                                   account=f"replay:{target.agent_node}", limits=target.limits, out_dir=out,
                                   repo_setup=target.repo_setup, role=target.role)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    follower = CallsFollower(out / "llm_calls.jsonl", console, full=req.full)
    worker = threading.Thread(target=work, name="dgm-replay-agent", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            follower.poll()
            worker.join(timeout=0.2)
    except KeyboardInterrupt:
        # The worker thread dies with the process, before its sandbox's cleanup: remove it here.
        from dgm.sandbox.sweep import sweep

        sweep(run_id=run_id)
        raise
    if "error" in box:
        raise box["error"]
    run = box["run"]
    follower.finish(run.trajectory)
    return run


def _print_run(console: Console, run: Any) -> None:
    console.rule(style="grey50")
    style = "bold green" if run.status == "submitted" else "bold yellow" if run.status == "limit" else "bold red"
    line = Text("agent ") + Text(run.status, style=style)
    if run.reason:
        line.append(" · " + clip(clean(run.reason), chars=300))
    usage = run.usage or {}
    line.append(f" · {usage.get('calls', 0)} model call(s), {usage.get('tokens_in', 0)} → "
                f"{usage.get('tokens_out', 0)} tokens · {run.seconds:.1f} s")
    console.print(line)
    for note in run.notes or []:
        console.print(Text("note: " + clean(note), style="yellow"))
    files = [ln[len("diff --git a/"):].split(" b/")[0] for ln in run.patch.splitlines() if ln.startswith("diff --git a/")]
    named = clean(", ".join(files), lines=False)  # file names are the agent's choice
    console.print(Text(f"patch: {len(run.patch.splitlines())} line(s)" + (f" in {named}" if files else " (empty)")))


def _compare_with_recording(console: Console, result: ReplayResult, recording: Any, task_dir: Path,
                            out: Path) -> None:
    from dgm.artifacts.calls import iter_calls
    from dgm.report.artifacts import read_text
    from dgm.replay.recorded import first_divergence, request_key

    replayed = []
    for entry in iter_calls(out / "llm_calls.jsonl"):
        if isinstance(entry.get("response"), dict):
            request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
            replayed.append(request_key(request.get("messages") if isinstance(request.get("messages"), list) else []))
    result.divergence = first_divergence(recording.requests, replayed)
    recorded_patch = read_text(task_dir / "patch.diff")
    if recorded_patch is not None:
        result.same_patch = recorded_patch[0] == result.patch
        if result.same_patch:
            console.print(Text("patch identical to the recorded one", style="bold green"))
        else:
            console.print(Text(f"patch DIFFERS from the recorded one ({task_dir / 'patch.diff'})", style="bold red"))
    if result.divergence is not None:
        console.print(Text(f"the agent's request at model turn {result.divergence} differs from the recording "
                           "(tool output changed, or the agent asked more or fewer times)", style="yellow"))


def _grade(console: Console, result: ReplayResult, instance: Any, env: Any, out: Path) -> None:
    from dgm.bench import grade
    from dgm.report.artifacts import failing_tests

    if not result.patch.strip():
        console.print(Text("not resolved: empty patch (nothing to grade)", style="bold red"))
        result.resolved = False
        return
    console.print(Text("grading in a fresh sandbox …", style="grey62"))
    started = time.monotonic()
    graded = grade(instance, env, result.patch, run_id=f"replay-grade-{uuid.uuid4().hex[:10]}")
    (out / "eval.log").write_text(graded.log or "")
    (out / "report.json").write_text(json.dumps({
        "resolved": graded.resolved, "patch_applied": graded.patch_applied, "tests_status": graded.tests_status,
        "report": graded.report, "error": graded.error}, indent=1, default=str))
    result.resolved = bool(graded.resolved)
    result.failing = failing_tests({"tests_status": graded.tests_status})
    took = f"{time.monotonic() - started:.1f} s"
    if result.resolved:
        console.print(Text(f"RESOLVED ({took})", style="bold green"))
        return
    why = "patch did not apply" if not graded.patch_applied else graded.error or "tests fail"
    console.print(Text(f"NOT RESOLVED: {clean(why)} ({took})", style="bold red"))
    for test in result.failing:
        console.print(Text("  failing: " + clean(test), style="red"))
