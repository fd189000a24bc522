"""Every verdict and every resume point of a child, through the pure transition function (no Docker)."""

from __future__ import annotations

import json

import pytest

from dgm.evolve.items import AgentOutcome, CheckOutcome, DiagnoseOutcome, EvalOutcome
from dgm.scheduler.states import (Check, ChildState, Close, Commit, Committed, Diagnose, EvalPlan, Evaluate, Halt,
                                  Phase, Refused, SelfModify)
from dgm.scheduler.transitions import BadTransition, resume, start, transition
from dgm.science.verifiers import NAMES
from dgm.scheduler.verdicts import REJECTIONS, Verdict, failed_verifier, verdict_of

PLAN = EvalPlan(stages=(("a", "b"), ("c", "d", "e")), smoke="a", gate=0.5)
OPEN = EvalPlan(smoke="a", open=True)


def diag(ok: bool = True, error: str | None = None) -> DiagnoseOutcome:
    return DiagnoseOutcome({"problem_statement": "fix it"} if ok else None, error, 1, [], {}, 1.0)


def agent(patch: str = "diff", status: str = "submitted", error: str | None = None) -> AgentOutcome:
    return AgentOutcome(status, patch, None, {}, "", 1.0, error=error)


def task(iid: str, resolved: bool, stage: int = 1, patch: str = "diff", status: str = "submitted",
         error: str | None = None) -> EvalOutcome:
    return EvalOutcome(iid, stage, agent(patch, status, error), resolved=resolved, graded=stage > 0)


def check(compiled: bool = True, passed: bool = True, error: str | None = None) -> CheckOutcome:
    return CheckOutcome(compiled, "", passed, "", 1.0, error=error)


def run(events: list, plan: EvalPlan = PLAN, state: ChildState | None = None) -> tuple[ChildState, list]:
    """Feed events in order, round-tripping the state through JSON after each (as the scheduler persists)."""
    state, work = start(state or ChildState("1.1", "0"), plan)
    for event in events:
        state = ChildState.from_json(json.loads(json.dumps(state.to_json())))
        state, work = transition(state, event, plan)
    return state, work


THROUGH_SMOKE = [diag(), agent(), Committed("5"), check(), task("a", False, stage=0)]


@pytest.mark.parametrize("events,verdict", [
    ([diag(ok=False, error="malformed")], Verdict.DIAGNOSIS_FAILED),
    ([diag(ok=False, error="over budget: refused")], Verdict.OVER_BUDGET),
    ([diag(), agent(patch="")], Verdict.NO_CHANGE),
    ([diag(), agent(patch="", status="timeout")], Verdict.CRASHED),
    ([diag(), agent(), Committed("5", same_tree=True)], Verdict.NO_CHANGE),
    ([diag(), agent(), Refused(Verdict.PATCH_REFUSED, "ambiguous hunk")], Verdict.PATCH_REFUSED),
    ([diag(), agent(), Refused(Verdict.FORBIDDEN_NAME, ".git/config")], Verdict.FORBIDDEN_NAME),
    ([diag(), agent(), Committed("5"), check(compiled=False, passed=False)], Verdict.DOES_NOT_COMPILE),
    ([diag(), agent(), Committed("5"), check(passed=False)], Verdict.OWN_TESTS_FAIL),
    ([diag(), agent(), Committed("5"), check(error="docker gone")], Verdict.CRASHED),
    ([diag(), agent(), Committed("5"), check(), task("a", False, 0, patch="")], Verdict.EMPTY_PATCHES),
    ([diag(), agent(), Committed("5"), check(), task("a", False, 0, patch="", status="crashed")], Verdict.CRASHED),
    (THROUGH_SMOKE + [task("a", False, patch=""), task("b", False, patch="")], Verdict.EMPTY_PATCHES),
    (THROUGH_SMOKE + [task("a", True), task("b", False, status="crashed", error="grader died")], Verdict.CRASHED),
    (THROUGH_SMOKE + [task("a", False), task("b", False)], Verdict.BELOW_GATE),
    (THROUGH_SMOKE + [task("a", True), Refused(Verdict.RUNNER_TAMPERING, "conftest")], Verdict.RUNNER_TAMPERING),
    (THROUGH_SMOKE + [task("a", True), Refused(Verdict.BAD_ARTIFACT, "huge log")], Verdict.BAD_ARTIFACT),
    (THROUGH_SMOKE + [task("a", True), Halt(Verdict.OVER_BUDGET)], Verdict.OVER_BUDGET),
    (THROUGH_SMOKE + [task("b", True), task("a", False), task("c", True), task("d", False), task("e", False)],
     Verdict.ADMITTED),
])
def test_each_verdict(events: list, verdict: Verdict) -> None:
    state, work = run(events)
    assert state.phase is Phase.DONE and state.verdict is verdict and work == []


def test_every_verdict_is_reached_by_some_path() -> None:
    reached = {Verdict.ADMITTED, Verdict.DIAGNOSIS_FAILED, Verdict.OVER_BUDGET, Verdict.NO_CHANGE, Verdict.CRASHED,
               Verdict.PATCH_REFUSED, Verdict.FORBIDDEN_NAME, Verdict.DOES_NOT_COMPILE, Verdict.OWN_TESTS_FAIL,
               Verdict.EMPTY_PATCHES, Verdict.BELOW_GATE, Verdict.RUNNER_TAMPERING, Verdict.BAD_ARTIFACT}
    # the gate's verifiers (tests/science/test_gate.py reaches each)
    reached |= {failed_verifier(name) for name in NAMES}
    assert reached == set(Verdict)


def test_verdict_strings_are_todays_reasons() -> None:
    # What dgm/evolve/jobs.py and loop.py write today; old archives must read back.
    today = ["diagnosis failed", "no change", "does not compile", "own tests fail", "empty patches", "below gate",
             "over budget", "crashed"]
    for reason in today:
        assert verdict_of(f"rejected:{reason}").value == reason
        assert verdict_of(f"rejected:{reason}").status == f"rejected:{reason}"
    assert verdict_of("admitted") is Verdict.ADMITTED
    assert verdict_of("pending") is None
    assert verdict_of("rejected:crashed: docker died") is Verdict.CRASHED
    assert verdict_of("rejected:something new") is None
    assert all(v.status.startswith("rejected:") for v in REJECTIONS)


def test_gate_admit_and_root() -> None:
    lenient = EvalPlan(stages=PLAN.stages, smoke="a", gate=0.5, below_gate="admit")
    state, _ = run(THROUGH_SMOKE + [task("a", False), task("b", False)], lenient)
    assert state.verdict is Verdict.ADMITTED and state.stage == 1
    root, work = start(ChildState("root", None, node_id="0", root=True), PLAN)
    assert [w.instance_id for w in work] == ["a", "b"] and all(isinstance(w, Evaluate) for w in work)
    # The root is never rejected, an engine crash on it is a result, and the gate only ends its stages.
    root, _ = transition(root, task("a", False, status="crashed", error="x"), PLAN)
    root, _ = transition(root, task("b", False), PLAN)
    assert root.verdict is Verdict.ADMITTED and root.evaluated == 2


def test_open_plan_leaves_evaluation_to_the_policy() -> None:
    state, work = run(THROUGH_SMOKE, OPEN)
    assert state.phase is Phase.OPEN and work == []
    state, _ = transition(state, task("q", True), OPEN)
    state, _ = transition(state, task("r", False, status="crashed", error="docker"), OPEN)
    assert (state.resolved, state.evaluated) == (1, 1)
    done, _ = transition(state, Close(Verdict.BELOW_GATE), OPEN)
    assert done.verdict is Verdict.BELOW_GATE
    halted, _ = transition(state, Halt(Verdict.OVER_BUDGET), OPEN)
    assert halted.verdict is Verdict.ADMITTED   # an admitted node stays admitted when the run stops


def test_every_resume_point_reasks_exactly_the_pending_work() -> None:
    expected = [
        ([], Phase.DIAGNOSING, [Diagnose("1.1", "0")]),
        ([diag()], Phase.MODIFYING, [SelfModify("1.1", "0", "fix it")]),
        ([diag(), agent()], Phase.COMMITTING, [Commit("1.1", "0")]),
        ([diag(), agent(), Committed("5")], Phase.CHECKING, [Check("1.1", "5")]),
        ([diag(), agent(), Committed("5"), check()], Phase.SMOKING, [Evaluate("1.1", "5", "a", 0)]),
        (THROUGH_SMOKE, Phase.EVALUATING, [Evaluate("1.1", "5", "a", 1), Evaluate("1.1", "5", "b", 1)]),
        (THROUGH_SMOKE + [task("b", True)], Phase.EVALUATING, [Evaluate("1.1", "5", "a", 1)]),
        (THROUGH_SMOKE + [task("b", True), task("a", True)], Phase.EVALUATING,
         [Evaluate("1.1", "5", i, 2) for i in "cde"]),
    ]
    for events, phase, work in expected:
        state, asked = run(events)
        assert state.phase is phase
        reloaded = ChildState.from_json(json.loads(json.dumps(state.to_json())))
        assert reloaded == state
        assert resume(reloaded, PLAN) == work
        if asked:
            assert asked == work   # what the transition asked is what resume asks again
    planned = ChildState("1.1", "0")
    assert resume(planned, PLAN) == [] and start(planned, PLAN)[1] == [Diagnose("1.1", "0")]
    for state in (run([diag(ok=False)])[0], run(THROUGH_SMOKE, OPEN)[0]):
        assert resume(state, PLAN) == []


def test_a_replayed_outcome_is_not_counted_twice_and_late_outcomes_are_inert() -> None:
    state, _ = run(THROUGH_SMOKE + [task("a", True)])
    again, work = transition(state, task("a", True), PLAN)
    assert again == state and work == []
    done, _ = run([diag(ok=False)])
    assert transition(done, task("a", True), PLAN) == (done, [])


def test_an_unexpected_outcome_is_a_scheduler_bug() -> None:
    state, _ = start(ChildState("1.1", "0"), PLAN)
    with pytest.raises(BadTransition):
        transition(state, check(), PLAN)


def test_policy_table_reads_like_the_config() -> None:
    from dgm.errors import BadInput
    from dgm.scheduler.policies import DgmPolicy, HgmPolicy
    from dgm.scheduler.registry import policy_from_table

    assert isinstance(policy_from_table(None, PLAN), DgmPolicy)
    hgm = policy_from_table({"name": "hgm", "alpha": 0.5}, PLAN)
    assert isinstance(hgm, HgmPolicy) and hgm.alpha == 0.5 and hgm.plan.open
    with pytest.raises(BadInput, match="choose one of dgm, hgm, sequential"):
        policy_from_table({"name": "fast"}, PLAN)
    with pytest.raises(BadInput, match="bad parameters for policy 'hgm'"):
        policy_from_table({"name": "hgm", "alfa": 0.5}, PLAN)
    with pytest.raises(BadInput, match="lower_bound"):
        policy_from_table({"name": "hgm", "strategy": "nope"}, PLAN)
