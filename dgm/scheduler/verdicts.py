"""The one vocabulary of a child's fate: read by the archive status, the report, the live view and the CLI.

The string values are the reason strings the evolve loop has always written, so an existing
archive's `rejected:<reason>` statuses read back as verdicts.
"""

from __future__ import annotations

from enum import Enum


class Verdict(str, Enum):
    ADMITTED = "admitted"
    DIAGNOSIS_FAILED = "diagnosis failed"
    NO_CHANGE = "no change"
    DOES_NOT_COMPILE = "does not compile"
    OWN_TESTS_FAIL = "own tests fail"
    EMPTY_PATCHES = "empty patches"
    BELOW_GATE = "below gate"
    OVER_BUDGET = "over budget"
    CRASHED = "crashed"
    # The trust checks' reasons: what a child did to its own verification, or what it produced.
    FORBIDDEN_NAME = "forbidden name in tree"
    PATCH_REFUSED = "patch refused"
    RUNNER_TAMPERING = "runner tampering"
    BAD_ARTIFACT = "bad artifact"
    # The admission gate's verifiers (gate.verifiers, dgm/science/verifiers.py): the one that failed the child.
    FAILED_HIDDEN_TESTS = "failed hidden_tests"
    FAILED_WIDER_TESTS = "failed wider_tests"
    FAILED_STATIC_CHECKS = "failed static_checks"
    FAILED_PATCH_SANITY = "failed patch_sanity"
    FAILED_OWN_TESTS = "failed own_tests"
    FAILED_MODEL_JUDGE = "failed model_judge"

    @property
    def admitted(self) -> bool:
        return self is Verdict.ADMITTED

    @property
    def status(self) -> str:
        """The archive status this verdict is written as."""
        return "admitted" if self.admitted else f"rejected:{self.value}"

    @property
    def reason(self) -> str | None:
        return None if self.admitted else self.value


def failed_verifier(name: str) -> Verdict:
    """The rejection that names the gate's verifier NAME (ValueError for a name the gate does not know)."""
    return Verdict(f"failed {name}")


def verdict_of(status: str) -> Verdict | None:
    """The verdict an archive status records; None for "pending" and for reasons this vocabulary lacks.

    A reason with a detail after a colon ("crashed: docker died") reads as its leading reason.
    """
    if status == "admitted":
        return Verdict.ADMITTED
    if not status.startswith("rejected:"):
        return None
    reason = status[len("rejected:"):].strip()
    try:
        return Verdict(reason)
    except ValueError:
        head = reason.split(":", 1)[0].strip()
        try:
            return Verdict(head) if head != "admitted" else None
        except ValueError:
            return None


REJECTIONS: tuple[Verdict, ...] = tuple(v for v in Verdict if not v.admitted)
