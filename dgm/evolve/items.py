"""Work items: pure inputs in, outcomes out. Workers run them; only the loop writes the archive."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class AgentBudget:
    """Per-run agent limits as the ABI's task.json carries them."""

    max_steps: int
    max_seconds: float
    max_usd: float


@dataclass
class BoxLimits:
    """Per-container resources."""

    memory_mb: int
    cpus: float
    pids: int


@dataclass
class DiagnoseItem:
    """Ask the diagnose role what the parent should improve; retried while the answer is malformed."""

    key: str                 # "<iteration>.<slot>"
    parent_id: str
    messages: list[dict]
    retries: int
    account: str

    def label(self) -> str:
        return f"diagnose parent {self.parent_id} ({self.key})"


@dataclass
class DiagnoseOutcome:
    diagnosis: dict | None
    error: str | None
    attempts: int
    answers: list[str]
    usage: dict
    seconds: float


@dataclass
class SelfModifyItem:
    """The parent agent rewrites a copy of its own code (the only thing in its sandbox)."""

    key: str
    parent_id: str
    parent_tree: Path        # a checkout the loop made; copied into the sandbox, never written
    problem_statement: str
    limits: AgentBudget
    box: BoxLimits
    account: str
    out_dir: Path | None = None  # where the engine writes the run's files (trajectory, patch, llm_calls)

    def label(self) -> str:
        return f"self-modify parent {self.parent_id} ({self.key})"


@dataclass
class AgentOutcome:
    """What an agent run produced (self-modification or task): data only."""

    status: str              # AgentRun.status, or "crashed" when the engine itself failed
    patch: str
    trajectory: dict | None
    usage: dict
    log: str
    seconds: float
    error: str | None = None
    reason: str = ""         # AgentRun.reason: why this status (e.g. which output broke the ABI)


@dataclass
class CheckItem:
    """Stage 0 on the host-built child tree: byte-compile and run its own tests, in a sandbox."""

    node_id: str
    tree: Path
    own_tests: str
    box: BoxLimits
    timeout: float

    def label(self) -> str:
        return f"stage 0 checks of node {self.node_id}"


@dataclass
class CheckOutcome:
    compiled: bool
    compile_log: str
    tests_passed: bool
    tests_log: str
    seconds: float
    error: str | None = None


@dataclass
class EvalItem:
    """Run an agent on one task in the task's environment, then grade it (unless a smoke run)."""

    node_id: str
    tree: Path
    instance: Any            # dgm.bench TaskInstance
    environment: Any         # dgm.bench TaskEnvironment
    stage: int               # 0 = smoke (no grading), 1.. = evaluation stages, -1 = held out (dataset.heldout)
    limits: AgentBudget
    box: BoxLimits
    account: str
    grade: bool = True
    out_dir: Path | None = None
    verify: bool = False     # ask the task's model for P(resolved) before grading (evolve.self_verify)
    wider: bool = False      # also run the tests around the patch (gate.verifiers names wider_tests)

    @property
    def instance_id(self) -> str:
        return self.instance.instance_id

    def label(self) -> str:
        what = "smoke task" if not self.grade else "held-out task" if self.stage < 0 else f"stage {self.stage} task"
        return f"node {self.node_id} {what} {self.instance_id}"


@dataclass
class EvalOutcome:
    instance_id: str
    stage: int
    agent: AgentOutcome
    resolved: bool = False
    graded: bool = False
    patch_applied: bool = False
    eval_log: str = ""
    report: dict = field(default_factory=dict)
    tests_status: dict = field(default_factory=dict)
    grade_seconds: float = 0.0
    error: str | None = None
    cached: bool = False
    integrity: list[str] = field(default_factory=list)  # why the grader did not believe the run
    tampering: list[str] = field(default_factory=list)  # the patch reaches into the test runner
    verification: dict | None = None  # the task model's P(resolved), asked before grading (dgm.science.verify)
    wider: dict | None = None  # the tests around the patch, before and after it (dgm.bench.wider), when asked

    @property
    def empty_patch(self) -> bool:
        return not self.agent.patch.strip()

    def result(self) -> dict:
        """The archive's per-task result row."""
        return {"resolved": self.resolved, "empty_patch": self.empty_patch, "stage": self.stage,
                "status": self.agent.status, "patch_applied": self.patch_applied,
                "seconds": round(self.agent.seconds + self.grade_seconds, 3),
                "agent_seconds": round(self.agent.seconds, 3), "grade_seconds": round(self.grade_seconds, 3),
                "tokens_in": int(self.agent.usage.get("tokens_in") or 0),
                "tokens_out": int(self.agent.usage.get("tokens_out") or 0),
                "cost_usd": float(self.agent.usage.get("cost_usd") or 0.0),
                "error": self.error, "cached": self.cached, "reason": self.agent.reason[:500],
                "integrity": [p[:300] for p in self.integrity[:5]], "tampering": self.tampering[:5],
                **({"verification": self.verification} if self.verification is not None else {})}
