"""Stage work: a child's compile check and own tests (stage 0), and agent runs on tasks, graded."""

from __future__ import annotations

import time
from typing import Any

from dgm.evolve.items import AgentOutcome, CheckItem, CheckOutcome, EvalItem, EvalOutcome

LOG_CHARS = 200_000


def run_check(item: CheckItem, context: Any) -> CheckOutcome:
    """Byte-compile the child and run its own tests, in one sandbox of the agent image."""
    from dgm.sandbox import Limits, Sandbox

    started = time.monotonic()
    limits = Limits(memory_mb=item.box.memory_mb, cpus=item.box.cpus, pids=item.box.pids,
                    wall_seconds=item.timeout * 2 + 120, exec_seconds=item.timeout)
    with Sandbox.start(context.agent_image(), run_id=context.run_id, limits=limits) as box:
        box.put_tree(item.tree, "/testbed")
        compiled = box.exec("cd /testbed && python3 -m compileall -q .", timeout=item.timeout)
        if not compiled.ok:
            return CheckOutcome(False, _log(compiled), False, "", time.monotonic() - started)
        tests = box.exec(item.own_tests, timeout=item.timeout)
        if not tests.ok and not tests.timed_out and not tests.oom_killed and not box.is_running():
            # Stopped from outside (docker kill, a host restart): says nothing about the child's
            # tests, so it is an engine failure ("crashed"), never cached as "own tests fail".
            return CheckOutcome(True, _log(compiled), False, _log(tests), time.monotonic() - started,
                                error=f"the sandbox was stopped from outside during the child's own tests "
                                      f"({tests.status()})")
        return CheckOutcome(True, _log(compiled), tests.ok, _log(tests), time.monotonic() - started)


def _log(result: Any) -> str:
    note = f"\n[{result.status()}; {result.duration:.1f}s{'; output truncated' if result.truncated else ''}]"
    return result.output[-LOG_CHARS:] + note


def run_eval(item: EvalItem, context: Any) -> EvalOutcome:
    """Run the agent on the task in the task's own environment image; grade unless a smoke run."""
    from dgm.agent import AgentLimits, run_agent
    from dgm.sandbox import Limits

    box = Limits(memory_mb=item.box.memory_mb, cpus=item.box.cpus, pids=item.box.pids,
                 wall_seconds=item.limits.max_seconds + 300)
    run = run_agent(
        item.tree, image=item.environment.image, problem_statement=item.instance.problem_statement,
        instance_id=item.instance_id, relay=context.relay, run_id=context.run_id, account=item.account,
        limits=AgentLimits(max_steps=item.limits.max_steps, max_seconds=item.limits.max_seconds,
                           max_usd=item.limits.max_usd),
        sandbox_limits=box, out_dir=item.out_dir)
    agent = AgentOutcome(run.status, run.patch or "", run.trajectory, dict(run.usage or {}), run.log or "",
                         float(run.seconds or 0.0), reason=run.reason)
    outcome = EvalOutcome(item.instance_id, item.stage, agent)
    if outcome.empty_patch:
        return outcome
    if item.verify and item.grade:
        from dgm.science.verify import verify_patch

        outcome.verification = verify_patch(context.gateway, item.instance_id, item.instance.problem_statement,
                                            agent.patch, account=f"{item.account}:verify")
    if not item.grade:  # the smoke run is not graded, but its patch is read like any other
        from dgm.bench.tamper import tamper_findings

        outcome.tampering = [_finding(f.to_dict()) for f in tamper_findings(agent.patch, item.instance.repo)
                             if f.blocking]
        return outcome
    from dgm.bench.grading import grade

    started = time.monotonic()
    result = grade(item.instance, item.environment, agent.patch, run_id=context.run_id,
                   limits=Limits(memory_mb=item.box.memory_mb, cpus=item.box.cpus, pids=item.box.pids))
    outcome.graded = True
    outcome.resolved = bool(result.resolved)
    outcome.patch_applied = bool(result.patch_applied)
    outcome.eval_log = (result.log or "")[-LOG_CHARS:]
    outcome.report = dict(result.report or {})
    outcome.tests_status = dict(result.tests_status or {})
    outcome.grade_seconds = float(result.seconds or (time.monotonic() - started))
    outcome.error = result.error
    outcome.integrity = list(result.integrity)
    outcome.tampering = [_finding(f) for f in result.findings if f.get("blocking")]
    if item.wider:
        outcome.wider = _wider(item, context, agent.patch)
    return outcome


def _wider(item: EvalItem, context: Any, patch: str) -> dict:
    """The tests around the patch, in sandboxes of their own after the verdict (it cannot change it); a
    run that breaks down is recorded as such, never the task run's failure."""
    from dgm.bench.wider import WiderRecord, wider_run
    from dgm.sandbox import Limits

    limits = Limits(memory_mb=item.box.memory_mb, cpus=item.box.cpus, pids=item.box.pids)
    try:
        return wider_run(item.instance, item.environment, patch, run_id=context.run_id, limits=limits).to_dict()
    except Exception as exc:  # noqa: BLE001 - Docker or the parser failing says nothing about the patch
        why = f"the wider run failed: {type(exc).__name__}: {exc}"[:500]
        return WiderRecord(item.instance_id, skipped=why).to_dict()


def _finding(finding: dict) -> str:
    return f"{finding.get('what')} ({finding.get('path')}:{finding.get('line')})"[:300]
