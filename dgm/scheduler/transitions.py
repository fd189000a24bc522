"""One pure function moves a child: (state, outcome) -> (next state, work items). No I/O here.

Outcomes are the evolve loop's own dataclasses (dgm.evolve.items) plus the host's events
(Committed, Gated, Refused) and the scheduler's (Close, Halt). `resume` gives the work a
persisted state still waits on, so a restarted run re-asks exactly that.
"""

from __future__ import annotations

from typing import Any

from dgm.evolve.items import AgentOutcome, CheckOutcome, DiagnoseOutcome, EvalOutcome
from dgm.scheduler.states import (Check, ChildState, Close, Commit, Committed, Refused, Diagnose, EvalPlan,
                                  Evaluate, Gate, Gated, Halt, Phase, SelfModify, Work)
from dgm.scheduler.verdicts import Verdict, failed_verifier

CRASHED = ("crashed", "error", "timeout", "killed")   # agent statuses that mean the run itself broke

Step = tuple[ChildState, list[Work]]


class BadTransition(ValueError):
    """An outcome arrived that the state does not wait for (a scheduler bug, never the agent's doing)."""


def start(state: ChildState, plan: EvalPlan) -> Step:
    """The first move of a planned child (diagnose) or of the root (its evaluation)."""
    if state.phase is not Phase.PLANNED:
        return state, resume(state, plan)
    if state.root:
        return _after_stage0(state, plan)
    nxt = state.but(phase=Phase.DIAGNOSING)
    return nxt, [Diagnose(state.key, state.parent_id or "")]


def transition(state: ChildState, event: Any, plan: EvalPlan) -> Step:
    """The next state and the work it asks for; BadTransition for an event the state cannot take."""
    if state.done:
        return state, []   # late outcomes of a decided child change nothing
    if isinstance(event, Halt):
        return _halt(state, event.verdict)
    if isinstance(event, Refused):
        return _done(state.but(node_id=event.node_id or state.node_id), event.verdict, event.detail[:500])
    handler = _HANDLERS.get((state.phase, type(event)))
    if handler is None:
        raise BadTransition(f"child {state.key} in phase {state.phase.value} got {type(event).__name__}")
    return handler(state, event, plan)


def resume(state: ChildState, plan: EvalPlan) -> list[Work]:
    """The work a persisted state is waiting on (what a restarted scheduler must ask again)."""
    p = state.phase
    if p is Phase.PLANNED or p is Phase.DONE or p is Phase.OPEN:
        return []
    if p is Phase.DIAGNOSING:
        return [Diagnose(state.key, state.parent_id or "")]
    if p is Phase.MODIFYING:
        return [SelfModify(state.key, state.parent_id or "", state.problem_statement or "")]
    if p is Phase.COMMITTING:
        return [Commit(state.key, state.parent_id or "")]
    if p is Phase.CHECKING:
        return [Check(state.key, state.node_id or "")]
    if p is Phase.SMOKING:
        return [Evaluate(state.key, state.node_id or "", plan.smoke, 0)]
    if p is Phase.GATING:
        return [Gate(state.key, state.node_id or "", state.stage)]
    return [Evaluate(state.key, state.node_id or "", iid, state.stage) for iid in state.todo]


def _done(state: ChildState, verdict: Verdict, detail: str = "") -> Step:
    return state.but(phase=Phase.DONE, verdict=verdict, detail=detail, todo=()), []


def _halt(state: ChildState, verdict: Verdict) -> Step:
    if state.phase is Phase.OPEN or state.root:
        return _done(state, Verdict.ADMITTED, f"halted: {verdict.value}")  # admitted nodes stay admitted
    return _done(state, verdict)


# ---- handlers ----------------------------------------------------------------------------------------
def _diagnosed(state: ChildState, out: DiagnoseOutcome, plan: EvalPlan) -> Step:
    if out.diagnosis is None:
        if (out.error or "").startswith("over budget"):
            return _done(state, Verdict.OVER_BUDGET, out.error or "")
        return _done(state, Verdict.DIAGNOSIS_FAILED, (out.error or "")[:500])
    problem = str(out.diagnosis.get("problem_statement") or "")
    nxt = state.but(phase=Phase.MODIFYING, problem_statement=problem)
    return nxt, [SelfModify(state.key, state.parent_id or "", problem)]


def _modified(state: ChildState, out: AgentOutcome, plan: EvalPlan) -> Step:
    if not out.patch.strip():
        return _done(state, Verdict.CRASHED if out.status in CRASHED else Verdict.NO_CHANGE, out.error or "")
    return state.but(phase=Phase.COMMITTING), [Commit(state.key, state.parent_id or "")]


def _committed(state: ChildState, out: Committed, plan: EvalPlan) -> Step:
    nxt = state.but(node_id=out.node_id)
    if out.same_tree:
        return _done(nxt, Verdict.NO_CHANGE)
    return nxt.but(phase=Phase.CHECKING), [Check(state.key, out.node_id)]


def _checked(state: ChildState, out: CheckOutcome, plan: EvalPlan) -> Step:
    if out.error:
        return _done(state, Verdict.CRASHED, out.error[:500])
    if not out.compiled:
        return _done(state, Verdict.DOES_NOT_COMPILE)
    if not out.tests_passed:
        return _done(state, Verdict.OWN_TESTS_FAIL)
    nxt = state.but(phase=Phase.SMOKING)
    return nxt, [Evaluate(state.key, state.node_id or "", plan.smoke, 0)]


def _smoked(state: ChildState, out: EvalOutcome, plan: EvalPlan) -> Step:
    if out.empty_patch:
        return _done(state, Verdict.CRASHED if out.agent.status in CRASHED else Verdict.EMPTY_PATCHES)
    if plan.verifiers:
        return _gating(state.but(stage=0))
    return _after_stage0(state, plan)


def _gating(state: ChildState) -> Step:
    """The child passed stage 0 or a stage: the gate's verifiers judge it before it goes on."""
    return state.but(phase=Phase.GATING, todo=()), [Gate(state.key, state.node_id or "", state.stage)]


def _gated(state: ChildState, out: Gated, plan: EvalPlan) -> Step:
    if out.failed is not None:
        return _done(state, failed_verifier(out.failed), out.detail[:500])
    if state.stage == 0:
        return _after_stage0(state, plan)
    if state.detail == "below gate":
        return _done(state, Verdict.ADMITTED, "below gate")
    if state.stage < len(plan.stages):
        return _enter_stage(state, state.stage + 1, plan)
    return _done(state, Verdict.ADMITTED)


def _after_stage0(state: ChildState, plan: EvalPlan) -> Step:
    if plan.open or not plan.stages:
        return state.but(phase=Phase.OPEN, stage=1), []
    return _enter_stage(state, 1, plan)


def _enter_stage(state: ChildState, number: int, plan: EvalPlan) -> Step:
    ids = plan.stages[number - 1]
    nxt = state.but(phase=Phase.EVALUATING, stage=number, todo=tuple(ids), stage_resolved=0,
                    stage_answered=0, stage_empty=0)
    return nxt, [Evaluate(state.key, state.node_id or "", iid, number) for iid in ids]


def engine_crash(state: ChildState, out: EvalOutcome) -> bool:
    """The engine (Docker, grading), not the agent, failed: no score comes from this run."""
    return out.agent.status == "crashed" and bool(out.agent.error) and not state.root


def _graded(state: ChildState, out: EvalOutcome, plan: EvalPlan) -> Step:
    if out.instance_id not in state.todo:
        return state, []   # a duplicate (a replayed outcome after resume): already counted
    if engine_crash(state, out):
        return _done(state, Verdict.CRASHED, (out.agent.error or "")[:500])
    hit = int(bool(out.resolved))
    nxt = state.but(todo=tuple(i for i in state.todo if i != out.instance_id),
                    stage_resolved=state.stage_resolved + hit, stage_answered=state.stage_answered + 1,
                    stage_empty=state.stage_empty + int(out.empty_patch),
                    resolved=state.resolved + hit, evaluated=state.evaluated + 1)
    if nxt.todo:
        return nxt, []
    score = nxt.stage_resolved / len(plan.stages[nxt.stage - 1])
    if not nxt.root and nxt.stage == 1 and nxt.stage_answered and nxt.stage_empty == nxt.stage_answered:
        return _done(nxt, Verdict.EMPTY_PATCHES)
    if nxt.stage < len(plan.stages) and score < plan.gate:
        if nxt.root:
            return _done(nxt, Verdict.ADMITTED, "below gate")
        if plan.below_gate == "admit":
            return _gating(nxt.but(detail="below gate")) if plan.verifiers else _done(nxt, Verdict.ADMITTED,
                                                                                      "below gate")
        return _done(nxt, Verdict.BELOW_GATE, f"stage {nxt.stage} score {score:.3f} < {plan.gate}")
    if plan.verifiers and not nxt.root:
        return _gating(nxt)
    if nxt.stage < len(plan.stages):
        return _enter_stage(nxt, nxt.stage + 1, plan)
    return _done(nxt, Verdict.ADMITTED)


def _open_result(state: ChildState, out: EvalOutcome, plan: EvalPlan) -> Step:
    if engine_crash(state, out):
        return state, []   # no score from an engine failure; the policy may ask again
    hit = int(bool(out.resolved))
    return state.but(resolved=state.resolved + hit, evaluated=state.evaluated + 1), []


def _closed(state: ChildState, out: Close, plan: EvalPlan) -> Step:
    return _done(state, out.verdict)


_HANDLERS: dict[tuple[Phase, type], Any] = {
    (Phase.DIAGNOSING, DiagnoseOutcome): _diagnosed,
    (Phase.MODIFYING, AgentOutcome): _modified,
    (Phase.COMMITTING, Committed): _committed,
    (Phase.CHECKING, CheckOutcome): _checked,
    (Phase.SMOKING, EvalOutcome): _smoked,
    (Phase.GATING, Gated): _gated,
    (Phase.EVALUATING, EvalOutcome): _graded,
    (Phase.OPEN, EvalOutcome): _open_result,
    (Phase.OPEN, Close): _closed,
}
