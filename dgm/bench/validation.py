"""Validation: at the "before" state FAIL_TO_PASS fails and PASS_TO_PASS passes; gold resolves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dgm.bench.instances import TaskInstance
from dgm.bench.store import TaskEnvironment

SHOW = 5  # test names quoted per reason


@dataclass
class Verdict:
    """`status` is "validated" or "failed:<reason>"; `detail` names the tests at fault."""

    status: str
    detail: str = ""


def _names(tests: list[str]) -> str:
    more = f" (+{len(tests) - SHOW} more)" if len(tests) > SHOW else ""
    return ", ".join(tests[:SHOW]) + more


def check_before(instance: TaskInstance, env: TaskEnvironment, log: str) -> Verdict | None:
    """A failure verdict for the before-state log, or None when it behaves."""
    from swebench.harness.grading import test_passed

    from dgm.bench.grading import status_map

    sm, found = status_map(instance, env, log)
    if not found:
        return Verdict("failed:no-test-output", "the test command produced no parseable results before the fix")
    f2p_pass = [t for t in instance.FAIL_TO_PASS if test_passed(t, sm)]
    p2p_fail = [t for t in instance.PASS_TO_PASS if not test_passed(t, sm)]
    if f2p_pass:
        return Verdict("failed:f2p-passes-before", f"FAIL_TO_PASS passing before the fix: {_names(f2p_pass)}")
    if p2p_fail:
        return Verdict("failed:p2p-fails-before", f"PASS_TO_PASS not passing before the fix: {_names(p2p_fail)}")
    return None


def validate(instance: TaskInstance, env: TaskEnvironment, *, run_id: str, log_dir: Path | None = None,
             limits=None) -> Verdict:
    """Two fresh sandboxes: the before state with the test patch, then the gold patch graded."""
    from dgm.bench.grading import grade
    from dgm.bench.testrun import run_tests

    before = run_tests(instance, env, "", run_id=run_id, limits=limits)
    if log_dir:
        (log_dir / "before.log").write_text(before.log)
    if before.error:
        return Verdict("failed:before-run", before.error)
    verdict = check_before(instance, env, before.log)
    if verdict:
        return verdict
    gold = grade(instance, env, instance.patch, run_id=run_id, limits=limits, model_name="gold")
    if log_dir:
        (log_dir / "gold.log").write_text(gold.log)
    if not gold.patch_applied:
        return Verdict("failed:gold-does-not-apply", gold.error or "the gold patch does not apply")
    if not gold.resolved:
        status = gold.tests_status or {}
        failing = [t for key in ("FAIL_TO_PASS", "PASS_TO_PASS") for t in status.get(key, {}).get("failure", [])]
        detail = f"failing with the gold patch: {_names(failing)}" if failing else (
            gold.error or "the grader found no test results with the gold patch")
        return Verdict("failed:gold-not-resolved", detail)
    return Verdict("validated", f"before {before.seconds:.1f} s, gold {gold.seconds:.1f} s")
