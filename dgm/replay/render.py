"""Printing agent steps to a terminal with rich: thoughts, tool calls, outputs, cut to a readable size.

Everything printed here came from a model or a sandbox: it goes through rich.Text (never markup) with
control characters shown as escapes (dgm.terminal.inert), so it can neither restyle the output nor drive
the terminal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.text import Text

from dgm.artifacts import Trajectory
from dgm.terminal import inert as clean  # the one escaping helper; replay.session and .follow import it here

THOUGHT_CHARS, ARGS_CHARS, OUTPUT_CHARS = 1200, 800, 1500
OUTPUT_HEAD, OUTPUT_TAIL = 14, 8


def clip(text: str, *, chars: int, head: int | None = None, tail: int = 0, full: bool = False) -> str:
    """Keep the first `head` and last `tail` lines and at most `chars` characters, saying what was cut."""
    if full:
        return text
    lines = text.splitlines()
    if head is not None and len(lines) > head + tail + 1:
        cut = len(lines) - head - tail
        lines = lines[:head] + [f"… {cut} lines cut (--full shows everything) …"] + (lines[-tail:] if tail else [])
        text = "\n".join(lines)
    if len(text) > chars:
        text = text[: chars // 2] + f"\n… {len(text) - chars} characters cut …\n" + text[-(chars // 2):]
    return text


@dataclass
class ToolCall:
    """One tool call of a step and, once known, its output."""

    name: str
    arguments: Any
    output: str | None = None


@dataclass
class StepView:
    """One step as printed: the model's thought, its tool calls, their outputs, tokens and seconds."""

    index: int
    thought: str | None
    calls: list[ToolCall] = field(default_factory=list)
    usage: dict = field(default_factory=dict)
    seconds: float | None = None


def format_arguments(arguments: Any) -> str:
    """Tool arguments for reading: a lone string argument (a command, a file text) shown as itself."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return arguments
    if isinstance(arguments, dict) and len(arguments) == 1:
        (value,) = arguments.values()
        if isinstance(value, str):
            return value
    if isinstance(arguments, dict):
        parts = []
        for key, value in arguments.items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            parts.append(f"{key}: {shown}" if "\n" not in shown else f"{key}:\n{shown}")
        return "\n".join(parts)
    return json.dumps(arguments, ensure_ascii=False)


def steps_from_trajectory(traj: Trajectory) -> list[StepView]:
    """Steps of a checked trajectory; the n-th assistant message is the n-th step's thought."""
    thoughts = [m.text() for m in traj.messages if m.role == "assistant"]
    steps = []
    for k, raw in enumerate(traj.steps):
        calls = [ToolCall(name=call.name, arguments=call.arguments,
                          output=raw.outputs[j] if j < len(raw.outputs) else None)
                 for j, call in enumerate(raw.tool_calls)]
        thought = raw.thought
        if thought is None and k < len(thoughts):
            thought = thoughts[k]
        steps.append(StepView(index=raw.i, thought=thought, calls=calls, usage=raw.usage, seconds=raw.seconds))
    return steps


def step_title(step: StepView) -> str:
    bits = [f"step {step.index}"]
    if step.seconds is not None:
        bits.append(f"{float(step.seconds):.1f} s")
    if step.usage:
        # The seed records tokens_in/tokens_out; a relay recording says prompt_tokens/completion_tokens.
        tokens_in = step.usage.get("tokens_in", step.usage.get("prompt_tokens", 0))
        tokens_out = step.usage.get("tokens_out", step.usage.get("completion_tokens", 0))
        bits.append(f"{tokens_in} → {tokens_out} tokens")
    return " · ".join(bits)


def print_step_head(console: Console, step: StepView, *, full: bool = False) -> None:
    """The step's rule, thought and tool calls (outputs may come later)."""
    console.rule(Text(step_title(step), style="bold"), align="left", style="grey50")
    if step.thought and step.thought.strip():
        console.print(Text(clip(clean(step.thought.strip()), chars=THOUGHT_CHARS, full=full), style="italic"))
    for call in step.calls:
        print_call(console, call, full=full)


def print_call(console: Console, call: ToolCall, *, full: bool = False) -> None:
    text = Text("▶ ", style="bold cyan")
    text.append(clean(call.name, lines=False), style="bold cyan")
    args = clip(clean(format_arguments(call.arguments)), chars=ARGS_CHARS, head=12, tail=3, full=full)
    text.append("\n" + args if "\n" in args else " " + args)
    console.print(text)


def print_output(console: Console, call: ToolCall, *, full: bool = False) -> None:
    """One tool output, dimmed and indented, cut to its first and last lines."""
    body = clip(clean(call.output or ""), chars=OUTPUT_CHARS, head=OUTPUT_HEAD, tail=OUTPUT_TAIL, full=full)
    text = Text("◀ ", style="green")
    text.append(f"{clean(call.name, lines=False)} output", style="green")
    console.print(text)
    for line in (body.splitlines() or ["(no output)"]):
        console.print(Text("  " + line, style="grey62"), soft_wrap=full)


def print_step(console: Console, step: StepView, *, full: bool = False) -> None:
    print_step_head(console, step, full=full)
    for call in step.calls:
        if call.output is not None:
            print_output(console, call, full=full)


def print_header(console: Console, traj: Trajectory) -> None:
    console.print(Text(f"trajectory {clean(traj.format, lines=False)} · instance "
                       f"{clean(traj.instance_id or '?', lines=False)} · started "
                       f"{clean(traj.started_at or '?', lines=False)}", style="bold"))
    task = next((m for m in traj.messages if m.role == "user"), None)
    if task is not None:
        body = clip(clean(task.text() or ""), chars=THOUGHT_CHARS, head=20, tail=0)
        console.print(Text("task: ", style="bold") + Text(body))


def print_outcome(console: Console, traj: Trajectory) -> None:
    console.rule(style="grey50")
    status = clean(traj.status, lines=False)
    style = "bold green" if status == "submitted" else "bold yellow" if status == "limit" else "bold red"
    text = Text("status ") + Text(status, style=style)
    if traj.reason:
        text.append(f" · {clip(clean(traj.reason), chars=400)}")
    console.print(text)
    if traj.usage:
        console.print(Text(" · ".join(f"{clean(k)} {v}" for k, v in traj.usage.items()), style="grey62"))


def print_trajectory(traj: Trajectory, console: Console, *, full: bool = False) -> None:
    """The whole trajectory: header, every step, outcome."""
    print_header(console, traj)
    for step in steps_from_trajectory(traj):
        print_step(console, step, full=full)
    print_outcome(console, traj)
