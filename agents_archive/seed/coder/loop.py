"""The agent loop: run() repeats step(); step() is execute(query()). Exits are exceptions."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from . import prompts
from .context import compact
from .model import BudgetExhausted, Model, ModelError
from .tools import Submitted, Toolbox
from .trajectory import Trajectory


class LimitsExceeded(Exception):
    """A step, time or dollar limit was reached."""


class FormatError(Exception):
    """The model's reply was unusable; the message tells it what to do instead."""


@dataclass
class Limits:
    max_steps: int = 50
    max_seconds: float = 1800.0
    max_usd: Optional[float] = None
    max_context_chars: int = 300000    # older tool outputs are elided past this
    keep_last_messages: int = 12       # ... but the newest messages always stay whole

    @classmethod
    def from_task(cls, task: Dict[str, Any]) -> "Limits":
        raw = task.get("limits") or {}
        casts = {"max_steps": int, "max_seconds": float, "max_usd": float, "max_context_chars": int}
        limits = cls()
        for name, cast in casts.items():
            if raw.get(name) is not None:
                setattr(limits, name, cast(raw[name]))
        return limits


class Agent:
    """Solves one task: talks to the model, runs its tool calls, records everything."""

    def __init__(self, model: Model, tools: Toolbox, trajectory: Trajectory, limits: Limits) -> None:
        self.model = model
        self.tools = tools
        self.trajectory = trajectory
        self.limits = limits
        self.messages: List[Dict[str, Any]] = trajectory.data["messages"]
        self.started = time.monotonic()
        self.steps = 0

    def run(self, problem_statement: str, repo: str) -> Dict[str, str]:
        """Run until submit, a limit or an error; returns {"status", "reason"}."""
        self.messages += [
            {"role": "system", "content": prompts.SYSTEM},
            {"role": "user", "content": prompts.TASK.format(problem_statement=problem_statement, repo=repo)},
        ]
        status, reason = "error", ""
        try:
            while True:
                try:
                    self.step()
                except FormatError as exc:
                    self.messages.append({"role": "user", "content": str(exc)})
                    self.save()
        except Submitted as exc:
            status, reason = "submitted", str(exc)
        except LimitsExceeded as exc:
            status, reason = "limit", str(exc)
        except ModelError as exc:
            status, reason = "error", "model: %s" % exc
        except Exception:  # a bug in the agent itself: record it, do not lose the trajectory
            status, reason = "error", traceback.format_exc(limit=5)[-2000:]
        finally:
            self.tools.close()
            self.trajectory.finish(status, reason)
            self.save()
        return {"status": status, "reason": reason}

    def step(self) -> None:
        self.check_limits()
        self.steps += 1
        began = time.monotonic()
        record = {"i": self.steps, "tool_calls": [], "outputs": [], "seconds": 0.0, "usage": {}}
        self.trajectory.add_step(record)
        try:
            reply = self.query(record)
            self.execute(reply, record)
        finally:
            record["seconds"] = round(time.monotonic() - began, 3)
            self.save()

    def query(self, record: Dict[str, Any]) -> Dict[str, Any]:
        context = compact(self.messages, self.limits.max_context_chars, self.limits.keep_last_messages)
        self.model.timeout = max(10.0, min(300.0, self.time_left()))
        try:
            reply = self.model.complete(context, self.tools.schemas)
        except BudgetExhausted as exc:
            raise LimitsExceeded("budget: %s" % exc) from None
        record["usage"] = reply["usage"]
        message = reply["message"]
        self.messages.append(message)
        return message

    def execute(self, message: Dict[str, Any], record: Dict[str, Any]) -> None:
        calls = message.get("tool_calls") or []
        if not calls:
            raise FormatError(prompts.NO_TOOL_CALL)
        submitted: Optional[Submitted] = None
        for call in calls:
            fn = call.get("function") or {}
            name, args = str(fn.get("name")), fn.get("arguments")
            record["tool_calls"].append({"id": call.get("id"), "name": name, "arguments": args})
            if submitted is not None:
                output = "not run: submit was called before this tool call"
            else:
                try:
                    output = self.tools.call(name, args, time_left=self.time_left())
                except Submitted as exc:
                    submitted, output = exc, "submitted"
            record["outputs"].append(output)
            self.messages.append({"role": "tool", "tool_call_id": call.get("id"), "content": output})
        if submitted is not None:
            raise submitted
        warning = self.limits_warning()
        if warning:  # appended to the last observation: a model answers tool results best
            self.messages[-1]["content"] += "\n\n" + warning

    def limits_warning(self) -> str:
        """A reminder when the run is close to a limit, so the model wraps up and submits."""
        steps_left = self.limits.max_steps - self.steps
        if steps_left <= 3:
            return prompts.FEW_STEPS_LEFT.format(n=steps_left)
        if self.time_left() < 0.1 * self.limits.max_seconds:
            return prompts.LITTLE_TIME_LEFT.format(seconds=int(self.time_left()))
        return ""

    def check_limits(self) -> None:
        if self.steps >= self.limits.max_steps:
            raise LimitsExceeded("steps: reached max_steps=%d" % self.limits.max_steps)
        if self.time_left() <= 0:
            raise LimitsExceeded("time: reached max_seconds=%g" % self.limits.max_seconds)
        spent = self.model.usage["cost_usd"]
        if self.limits.max_usd is not None and spent >= self.limits.max_usd:
            raise LimitsExceeded("budget: spent $%.4f of max_usd=%g" % (spent, self.limits.max_usd))

    def time_left(self) -> float:
        return self.limits.max_seconds - (time.monotonic() - self.started)

    def save(self) -> None:
        self.trajectory.save(self.model.usage)
