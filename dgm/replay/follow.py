"""Following a run as it happens: the relay's model-call recording grows on the host, one line per turn.

Turn k's response holds the step's thought and tool calls; turn k+1's request holds the outputs of those
calls (tool messages). The last step's outputs come from the trajectory once the agent has finished.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from dgm.replay.render import StepView, ToolCall, clean, print_output, print_step_head, steps_from_trajectory


class CallsFollower:
    """Prints each new model turn of a JSONL call recording: the previous step's outputs, then the new step."""

    def __init__(self, path: Path, console: Console, *, full: bool = False, account: str | None = None) -> None:
        self.path = Path(path)
        self.console = console
        self.full = full
        self.account = account
        self.offset = 0
        self.steps: list[StepView] = []
        self._pending: dict[str, ToolCall] = {}   # tool_call_id -> call still waiting for its output

    def poll(self) -> int:
        """Print whatever was appended since the last poll; returns the number of new turns."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return 0
        end = data.rfind(b"\n")
        if end < 0:
            return 0  # only a line still being written
        self.offset += end + 1
        turns = 0
        for line in data[: end + 1].splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(entry, dict):
                continue
            if self.account is not None and self.account not in (entry.get("accounts") or [entry.get("account")]):
                continue
            self._turn(entry)
            turns += 1
        return turns

    def _turn(self, entry: dict) -> None:
        request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
        messages = [m for m in request.get("messages") or [] if isinstance(m, dict)]
        last_assistant = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
        for message in messages[last_assistant + 1:]:
            if message.get("role") == "tool":
                call = self._pending.pop(str(message.get("tool_call_id")), None)
                if call is not None and call.output is None:
                    call.output = message.get("content") if isinstance(message.get("content"), str) else ""
                    print_output(self.console, call, full=self.full)
        if entry.get("error") or not isinstance(entry.get("response"), dict):
            self.console.print(Text(f"model call failed: {clean(entry.get('error') or 'no response')}", style="bold red"))
            return
        choices = entry["response"].get("choices") or [{}]
        message = (choices[0] or {}).get("message") or {}
        step = StepView(index=len(self.steps) + 1, thought=message.get("content") if isinstance(
            message.get("content"), str) else None, usage=entry.get("usage") or {},
            seconds=entry.get("latency_s"))
        self._pending = {}
        for raw in message.get("tool_calls") or []:
            fn = (raw or {}).get("function") or {}
            call = ToolCall(name=str(fn.get("name")), arguments=fn.get("arguments"))
            step.calls.append(call)
            self._pending[str(raw.get("id"))] = call
        self.steps.append(step)
        print_step_head(self.console, step, full=self.full)

    def finish(self, trajectory: dict | None) -> None:
        """Read the rest of the recording, then print the last step's outputs from the final trajectory."""
        self.poll()
        if not trajectory or not self.steps:
            return
        recorded = steps_from_trajectory(trajectory)
        if not recorded:
            return
        last = recorded[-1]
        mine = self.steps[-1]
        for j, call in enumerate(mine.calls):
            if call.output is None and j < len(last.calls) and last.calls[j].output is not None:
                call.output = last.calls[j].output
                print_output(self.console, call, full=self.full)


def read_trajectory(path: Path) -> dict[str, Any] | None:
    """A trajectory file's JSON, or None when it is missing or not JSON."""
    from dgm.report.artifacts import read_json

    data = read_json(Path(path), max_bytes=50_000_000)
    return data if isinstance(data, dict) else None
