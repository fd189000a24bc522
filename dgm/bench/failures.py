"""Instances a bench command was asked for and did not deliver, one line each with the reason.

`dgm bench build` and `dgm bench validate` exit non-zero when any instance they were asked for
was refused, failed to build or failed validation: a script that builds a task set must not
mistake a refusal (a compiled project, no release that takes the patches) for a success.
"""

from __future__ import annotations

from typing import Iterable

from dgm.bench.store import TaskEnvironment
from dgm.terminal import inert

# The recipe maker said no before anything was built: the instance cannot be rebuilt here.
REFUSED = {"no-recipe"}
BUILD_FAILED = {"build"}


def kind_of(env: TaskEnvironment) -> str:
    """"refused", "build failed" or "validation failed" for a failed row ("" for any other)."""
    reason = env.reason
    if not reason:
        return ""
    if reason in REFUSED:
        return "refused"
    if reason in BUILD_FAILED:
        return "build failed"
    return "validation failed"


def shortfalls(envs: Iterable[TaskEnvironment], *, validated: bool = True) -> list[TaskEnvironment]:
    """The rows that did not deliver: every failed row, and (when VALIDATED is wanted) any not validated."""
    return [e for e in envs if e.reason or (validated and not e.validated)]


def failure_line(env: TaskEnvironment) -> str:
    """`ID: refused (no-recipe): why` on one line, control characters made inert."""
    kind = kind_of(env) or f"not validated (status {env.status})"
    reason = f" ({env.reason})" if env.reason else ""
    detail = " ".join((env.detail or "").split())
    return inert(f"{env.instance_id}: {kind}{reason}" + (f": {detail}" if detail else ""), lines=False)


def keeps_its_reason(env: TaskEnvironment) -> bool:
    """A row with no image that failed before validation (refused, build failed): validating it
    again has nothing to run, and its own reason is the one to keep (not "image-missing")."""
    return not env.image and bool(env.reason)
