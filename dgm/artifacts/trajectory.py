"""The trajectory an agent writes (ABI `dgm-trajectory-1`, agents_archive/README.md) and its
result.json: one schema, one validator that returns typed records or a one-line reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dgm.artifacts import checks as c
from dgm.artifacts.bounded import ArtifactInvalid, JsonLimits, parse_bounded
from dgm.artifacts.files import read_regular

TRAJECTORY_FORMAT = "dgm-trajectory-1"
# The seed keeps tool outputs under 10 000 characters, so even a 50-step run is a few megabytes:
# 10 MB leaves room for an agent that keeps more, and bounds what the host holds.
TRAJECTORY_CAP = 10_000_000
RESULT_CAP = 100_000
TRAJECTORY_LIMITS = JsonLimits(TRAJECTORY_CAP, max_values=200_000, max_depth=32)
RESULT_LIMITS = JsonLimits(RESULT_CAP, max_values=1_000, max_depth=8)
STATUSES = ("running", "submitted", "limit", "error")
RESULT_STATUSES = ("submitted", "limit", "error")
REASON_CHARS = 10_000
SHORT_CHARS = 500


@dataclass(slots=True)
class StepCall:
    """A tool call as the step recorded it; `arguments` as the model sent them (a JSON string usually)."""

    id: str | None
    name: str
    arguments: Any


@dataclass(slots=True)
class Message:
    """A chat message as sent to the model; `content` is text, a list of parts, or None."""

    role: str
    content: str | list[dict] | None
    tool_calls: list[StepCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None

    def text(self) -> str | None:
        if isinstance(self.content, list):
            return "\n".join(str(p.get("text", "")) for p in self.content) or None
        return self.content

    def to_json(self) -> dict:
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [{"id": t.id, "type": "function", "function": {"name": t.name, "arguments": t.arguments}}
                                 for t in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


@dataclass(slots=True)
class Step:
    """One step: the tool calls the model made, their outputs, seconds and tokens."""

    i: int
    tool_calls: list[StepCall]
    outputs: list[str]
    seconds: float | None = None
    usage: dict[str, float | int] = field(default_factory=dict)
    thought: str | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"i": self.i, "tool_calls": [{"id": t.id, "name": t.name, "arguments": t.arguments}
                                                            for t in self.tool_calls],
                               "outputs": self.outputs, "seconds": self.seconds, "usage": self.usage}
        if self.thought is not None:
            out["thought"] = self.thought
        return out


@dataclass(slots=True)
class Trajectory:
    """A checked dgm-trajectory-1 document: only the fields of the ABI, each of its type."""

    instance_id: str
    messages: list[Message]
    steps: list[Step]
    usage: dict[str, float | int]
    status: str
    reason: str
    started_at: str | None = None
    finished_at: str | None = None
    format: str = TRAJECTORY_FORMAT

    def to_json(self) -> dict:
        return {"format": self.format, "instance_id": self.instance_id,
                "messages": [m.to_json() for m in self.messages], "steps": [s.to_json() for s in self.steps],
                "usage": self.usage, "status": self.status, "reason": self.reason,
                "started_at": self.started_at, "finished_at": self.finished_at}


@dataclass(slots=True)
class AgentResult:
    """result.json: what the agent says of its own run."""

    status: str | None
    reason: str


def parse_trajectory(data: bytes | str) -> Trajectory:
    """A trajectory from the bytes an agent wrote; ArtifactInvalid with the reason otherwise."""
    return trajectory_from_json(parse_bounded(data, TRAJECTORY_LIMITS))


def read_trajectory(path: Path) -> Trajectory:
    """A trajectory file on the host (regular files only); FileNotFoundError or ArtifactInvalid."""
    return parse_trajectory(read_regular(Path(path), TRAJECTORY_CAP))


def parse_result(data: bytes | str) -> AgentResult:
    value = c.obj(parse_bounded(data, RESULT_LIMITS), "the document")
    status = c.text(value.get("status"), "status", optional=True)
    if status is not None and status not in RESULT_STATUSES:
        raise ArtifactInvalid(f"status is {status[:40]!r}, not one of {', '.join(RESULT_STATUSES)}")
    return AgentResult(status, c.text(value.get("reason", ""), "reason", cap=REASON_CHARS, optional=True) or "")


def trajectory_from_json(value: Any) -> Trajectory:
    """Check a parsed document against dgm-trajectory-1; missing fields get their empty defaults."""
    doc = c.obj(value, "the document")
    fmt = doc.get("format")
    if fmt != TRAJECTORY_FORMAT:
        shown = repr(fmt[:40]) if isinstance(fmt, str) else c.what(fmt)
        raise ArtifactInvalid(f"format is {shown}, not {TRAJECTORY_FORMAT!r}")
    status = c.text(doc.get("status", "running"), "status")
    if status not in STATUSES:
        raise ArtifactInvalid(f"status is {status[:40]!r}, not one of {', '.join(STATUSES)}")
    return Trajectory(
        instance_id=c.text(doc.get("instance_id", ""), "instance_id", cap=SHORT_CHARS) or "",
        messages=[_message(m, f"messages[{k}]") for k, m in enumerate(c.items(doc.get("messages"), "messages"))],
        steps=[_step(s, f"steps[{k}]", k) for k, s in enumerate(c.items(doc.get("steps"), "steps"))],
        usage=c.numbers(doc.get("usage"), "usage"),
        status=status,
        reason=c.text(doc.get("reason", ""), "reason", cap=REASON_CHARS, optional=True) or "",
        started_at=c.text(doc.get("started_at"), "started_at", cap=64, optional=True),
        finished_at=c.text(doc.get("finished_at"), "finished_at", cap=64, optional=True))


def _arguments(value: Any, path: str) -> Any:
    if value is None or isinstance(value, str):
        return c.text(value, path, optional=True)
    if isinstance(value, dict):
        return c.plain_json(value, path)
    raise c.wrong(path, value, "a string or an object")


def _message(value: Any, path: str) -> Message:
    m = c.obj(value, path)
    role = c.text(m.get("role"), f"{path}.role")
    if not role or len(role) > 32:  # type: ignore[arg-type]
        raise ArtifactInvalid(f"{path}.role is not a role name")
    content = m.get("content")
    if isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            p = c.obj(part, f"{path}.content[{j}]")
            parts.append({"type": c.text(p.get("type", "text"), f"{path}.content[{j}].type", cap=64),
                          "text": c.text(p.get("text", ""), f"{path}.content[{j}].text", optional=True) or ""})
        content = parts
    else:
        content = c.text(content, f"{path}.content", optional=True)
    calls = []
    for j, raw in enumerate(c.items(m.get("tool_calls"), f"{path}.tool_calls")):
        where = f"{path}.tool_calls[{j}]"
        call = c.obj(raw, where)
        fn = c.obj(call.get("function"), f"{where}.function")
        calls.append(StepCall(c.text(call.get("id"), f"{where}.id", cap=SHORT_CHARS, optional=True),
                              c.text(fn.get("name", ""), f"{where}.function.name", cap=SHORT_CHARS) or "",
                              _arguments(fn.get("arguments"), f"{where}.function.arguments")))
    return Message(role, content, calls,  # type: ignore[arg-type]
                   c.text(m.get("tool_call_id"), f"{path}.tool_call_id", cap=SHORT_CHARS, optional=True),
                   c.text(m.get("name"), f"{path}.name", cap=SHORT_CHARS, optional=True))


def _step(value: Any, path: str, k: int) -> Step:
    s = c.obj(value, path)
    calls = []
    for j, raw in enumerate(c.items(s.get("tool_calls"), f"{path}.tool_calls")):
        where = f"{path}.tool_calls[{j}]"
        call = c.obj(raw, where)
        calls.append(StepCall(c.text(call.get("id"), f"{where}.id", cap=SHORT_CHARS, optional=True),
                              c.text(call.get("name", ""), f"{where}.name", cap=SHORT_CHARS) or "",
                              _arguments(call.get("arguments"), f"{where}.arguments")))
    outputs = [c.text(o, f"{path}.outputs[{j}]") or ""
               for j, o in enumerate(c.items(s.get("outputs"), f"{path}.outputs"))]
    thought_key = "thought" if "thought" in s else "content"  # not in the ABI; some agents keep it
    seconds = c.number(s.get("seconds"), f"{path}.seconds", optional=True)
    return Step(i=c.integer(s["i"], f"{path}.i") if s.get("i") is not None else k + 1, tool_calls=calls,
                outputs=outputs, seconds=float(seconds) if seconds is not None else None,
                usage=c.numbers(s.get("usage"), f"{path}.usage"),
                thought=c.text(s.get(thought_key), f"{path}.{thought_key}", optional=True))
