"""Following a run as it happens: the relay's model-call recording grows on the host, one line per turn.

Turn k's response holds the step's thought and tool calls; turn k+1's request holds the outputs of those
calls (tool messages). The last step's outputs come from the trajectory once the agent has finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from dgm.artifacts import ArtifactInvalid, Trajectory, trajectory_from_json
from dgm.artifacts import read_trajectory as read_checked
from dgm.artifacts.calls import LINE_LIMITS, accounts_of, parse_call_line
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
                data = fh.read(LINE_LIMITS.max_bytes * 2)
        except FileNotFoundError:
            return 0
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) > LINE_LIMITS.max_bytes:  # one line past any cap: skip what came of it
                self.offset += len(data)
            return 0  # only a line still being written
        self.offset += end + 1
        turns = 0
        for line in data[: end + 1].splitlines():
            entry = parse_call_line(line)
            if entry is None:
                continue
            if self.account is not None and self.account not in accounts_of(entry):
                continue
            self._turn(entry)
            turns += 1
        return turns

    def _turn(self, entry: dict) -> None:
        # The request is what the agent sent: any field may have any type, and must not stop the printout.
        request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
        messages = [m for m in _list(request.get("messages")) if isinstance(m, dict)]
        last_assistant = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=-1)
        for message in messages[last_assistant + 1:]:
            if message.get("role") == "tool":
                call = self._pending.pop(str(message.get("tool_call_id")), None)
                if call is not None and call.output is None:
                    call.output = message.get("content") if isinstance(message.get("content"), str) else ""
                    print_output(self.console, call, full=self.full)
        response = entry.get("response")
        if entry.get("error") or not isinstance(response, dict):
            self.console.print(Text(f"model call failed: {clean(entry.get('error') or 'no response')}", style="bold red"))
            return
        choices = _list(response.get("choices"))
        choice = choices[0] if choices and isinstance(choices[0], dict) else {}
        message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
        usage = entry.get("usage") if isinstance(entry.get("usage"), dict) else {}
        seconds = entry.get("latency_s")
        step = StepView(index=len(self.steps) + 1, thought=message.get("content") if isinstance(
            message.get("content"), str) else None,
            usage={str(k): v for k, v in usage.items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
            seconds=float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else None)
        self._pending = {}
        for raw in _list(message.get("tool_calls")):
            raw = raw if isinstance(raw, dict) else {}
            fn = raw.get("function") if isinstance(raw.get("function"), dict) else {}
            call = ToolCall(name=str(fn.get("name")), arguments=fn.get("arguments"))
            step.calls.append(call)
            self._pending[str(raw.get("id"))] = call
        self.steps.append(step)
        print_step_head(self.console, step, full=self.full)

    def finish(self, trajectory: dict | Trajectory | None) -> None:
        """Read the rest of the recording, then print the last step's outputs from the final trajectory."""
        self.poll()
        if trajectory is None or not self.steps:
            return
        if isinstance(trajectory, dict):
            try:
                trajectory = trajectory_from_json(trajectory)
            except ArtifactInvalid:
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


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def read_trajectory(path: Path) -> Trajectory | None:
    """A trajectory file, checked; None when it is missing or unusable (replays fall back to the call log)."""
    try:
        return read_checked(path)
    except (FileNotFoundError, ArtifactInvalid):
        return None
