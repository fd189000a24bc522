"""A child's life as explicit states, the work a state asks for, and the events that move it.

Every state is a frozen dataclass that round-trips through JSON, so the scheduler persists one
row per child after each transition and a resumed run continues from the rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any

from dgm.scheduler.verdicts import Verdict


class Phase(str, Enum):
    PLANNED = "planned"          # parent chosen, nothing run yet
    DIAGNOSING = "diagnosing"    # waiting on the diagnosis of the parent
    MODIFYING = "modifying"      # the parent rewrites a copy of itself
    COMMITTING = "committing"    # the host applies the patch and adds the node (no worker slot)
    CHECKING = "checking"        # stage 0: compiles, own tests
    SMOKING = "smoking"          # stage 0: can it still produce a patch on one task
    GATING = "gating"            # the gate's verifiers judge what stage 0 or a passed stage produced
    EVALUATING = "evaluating"    # staged evaluation with gates (the dgm plan)
    OPEN = "open"                # admitted; a policy evaluates it one task at a time
    DONE = "done"                # verdict given


@dataclass(frozen=True)
class EvalPlan:
    """How a child is evaluated after stage 0: gated stages, or open (the policy decides task by task)."""

    stages: tuple[tuple[str, ...], ...] = ()
    smoke: str = ""
    gate: float = 0.4
    below_gate: str = "reject"   # or "admit"
    open: bool = False           # True: after stage 0 the node is admitted and left to the policy
    verifiers: tuple[str, ...] = ()   # the gate's verifiers (gate.verifiers); () admits on the stages alone


# ---- work the states ask for ------------------------------------------------------------------
@dataclass(frozen=True)
class Diagnose:
    key: str
    parent_id: str


@dataclass(frozen=True)
class SelfModify:
    key: str
    parent_id: str
    problem_statement: str


@dataclass(frozen=True)
class Commit:
    """Host work: apply the patch to the parent's tree, add the node (done by the scheduler, inline)."""

    key: str
    parent_id: str


@dataclass(frozen=True)
class Gate:
    """Host work: run the gate's verifiers on a child after stage `stage` (done by the scheduler, inline)."""

    key: str
    node_id: str
    stage: int


@dataclass(frozen=True)
class Check:
    key: str
    node_id: str


@dataclass(frozen=True)
class Evaluate:
    """One task run of a node; stage 0 is the smoke run (not graded)."""

    key: str
    node_id: str
    instance_id: str
    stage: int

    @property
    def graded(self) -> bool:
        return self.stage > 0


Work = Diagnose | SelfModify | Commit | Gate | Check | Evaluate


# ---- events that are not worker outcomes ------------------------------------------------------------
@dataclass(frozen=True)
class Committed:
    """The host added the child node; `same_tree` when the patch changed nothing git can see."""

    node_id: str
    same_tree: bool = False


@dataclass(frozen=True)
class Gated:
    """The gate's answer: the name of the first configured verifier the child failed (None: all passed)."""

    failed: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Refused:
    """A trust check refused the child (patch refused, forbidden name, runner tampering, bad artifact).

    Accepted in every phase: the host raises it at commit, an evaluation's checks at any stage.
    """

    verdict: Verdict
    detail: str = ""
    node_id: str | None = None   # set when the host recorded a node holding the parent's tree


@dataclass(frozen=True)
class Close:
    """A policy ends a node's evaluation with a verdict (admitted, or below gate)."""

    verdict: Verdict


@dataclass(frozen=True)
class Halt:
    """The run stops (budget, engine crash): a pending child is given this verdict."""

    verdict: Verdict


# ---- the state ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChildState:
    """Everything the transition function needs about one child; `verdict` is set in DONE."""

    key: str
    parent_id: str | None
    phase: Phase = Phase.PLANNED
    node_id: str | None = None
    problem_statement: str | None = None
    stage: int = 0
    todo: tuple[str, ...] = ()            # instance ids of the current stage not yet answered
    stage_resolved: int = 0
    stage_answered: int = 0
    stage_empty: int = 0
    resolved: int = 0                     # graded results over every stage (and open evaluation)
    evaluated: int = 0
    verdict: Verdict | None = None
    detail: str = ""
    root: bool = False
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    def but(self, **changes: Any) -> "ChildState":
        return replace(self, **changes)

    def to_json(self) -> dict:
        # By hand rather than dataclasses.asdict: this runs after every transition.
        data = {name: getattr(self, name) for name in _FIELDS}
        data["phase"] = self.phase.value
        data["verdict"] = self.verdict.value if self.verdict else None
        data["todo"] = list(self.todo)
        data["meta"] = dict(self.meta)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "ChildState":
        data = dict(data)
        data["phase"] = Phase(data["phase"])
        data["verdict"] = Verdict(data["verdict"]) if data.get("verdict") else None
        data["todo"] = tuple(data.get("todo") or ())
        return cls(**data)


_FIELDS = tuple(f.name for f in fields(ChildState))
