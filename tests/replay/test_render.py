"""`dgm replay --trajectory` and the live follower: readable, cut to size, and inert against hostile text."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from dgm.cli import main
from dgm.replay.follow import CallsFollower

HOSTILE = "[bold red]not markup[/bold red] \x1b[2J\x1b]0;owned\x07 done"


def trajectory() -> dict:
    def call(cid: str, name: str, args: dict) -> dict:
        return {"id": cid, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}

    long_output = "\n".join(f"line {i}" for i in range(200))
    return {
        "format": "dgm-trajectory-1", "instance_id": "dgm-toy__calc-1", "status": "submitted", "reason": "done",
        "started_at": "2026-11-27T20:00:00Z", "finished_at": "2026-11-27T20:01:00Z",
        "usage": {"calls": 3, "tokens_in": 300, "tokens_out": 40},
        "messages": [
            {"role": "system", "content": "You are a coding agent."},
            {"role": "user", "content": "divide() truncates results"},
            {"role": "assistant", "content": "Let me look at the code. " + HOSTILE,
             "tool_calls": [call("c1", "bash", {"command": "cat calc/arith.py"})]},
            {"role": "tool", "tool_call_id": "c1", "content": long_output},
            {"role": "assistant", "content": "Fix the operator.",
             "tool_calls": [call("c2", "edit", {"path": "calc/arith.py", "old": "a // b", "new": "a / b"})]},
            {"role": "tool", "tool_call_id": "c2", "content": "edited"},
            {"role": "assistant", "content": None, "tool_calls": [call("c3", "submit", {})]},
        ],
        "steps": [
            {"i": 1, "tool_calls": [{"id": "c1", "name": "bash", "arguments": json.dumps({"command": "cat calc/arith.py"})}],
             "outputs": [long_output], "seconds": 0.4, "usage": {"prompt_tokens": 100, "completion_tokens": 10}},
            {"i": 2, "tool_calls": [{"id": "c2", "name": "edit", "arguments": json.dumps(
                {"path": "calc/arith.py", "old": "a // b", "new": "a / b"})}], "outputs": ["edited"], "seconds": 0.1},
            {"i": 3, "tool_calls": [{"id": "c3", "name": "submit", "arguments": "{}"}], "outputs": ["submitted"]},
        ],
    }


def test_trajectory_is_printed_step_by_step(tmp_path: Path, capsys) -> None:
    path = tmp_path / "trajectory.json"
    path.write_text(json.dumps(trajectory()))
    assert main(["replay", "--trajectory", str(path)]) == 0
    out = capsys.readouterr().out
    assert "dgm-toy__calc-1" in out and "divide() truncates results" in out
    for text in ("step 1", "step 2", "step 3", "Let me look at the code.", "▶ bash cat calc/arith.py",
                 "▶ edit", "path: calc/arith.py", "◀ submit output", "status submitted"):
        assert text in out, text
    assert out.index("step 1") < out.index("step 2") < out.index("step 3")
    # Long outputs keep their head and tail and say how much was cut.
    assert "line 0" in out and "line 199" in out and "line 100" not in out
    assert "lines cut (--full shows everything)" in out
    # Model text is data: rich markup shows literally, terminal escapes are shown, not obeyed.
    assert "[bold red]not markup[/bold red]" in out
    assert "\x1b" not in out and "\\x1b[2J\\x1b]0;owned\\x07" in out


def test_full_keeps_everything(tmp_path: Path, capsys) -> None:
    path = tmp_path / "trajectory.json"
    path.write_text(json.dumps(trajectory()))
    assert main(["replay", "--trajectory", str(path), "--full"]) == 0
    out = capsys.readouterr().out
    assert all(f"line {i}\n" in out for i in range(200))
    assert "lines cut" not in out


def test_bad_trajectory_is_bad_input(tmp_path: Path, capsys) -> None:
    (tmp_path / "t.json").write_text("[1, 2")
    assert main(["replay", "--trajectory", str(tmp_path / "t.json")]) == 2
    assert "t.json" in capsys.readouterr().err
    assert main(["replay", "--run", str(tmp_path)]) == 2
    assert "--node, --instance" in capsys.readouterr().err


def test_follower_prints_each_turn_as_the_recording_grows(tmp_path: Path) -> None:
    """Turn k's response is step k; turn k+1's request carries step k's outputs; a torn line waits."""
    traj = trajectory()
    msgs = traj["messages"]
    log = tmp_path / "llm_calls.jsonl"
    buf = io.StringIO()
    follower = CallsFollower(log, Console(file=buf, width=120, highlight=False))
    assert follower.poll() == 0  # no file yet

    def exchange(k: int, upto: int) -> str:
        assistant = [m for m in msgs if m["role"] == "assistant"][k]
        return json.dumps({"ts": "2026-11-27T20:00:0%dZ" % k, "accounts": ["run", "replay:1"],
                           "request": {"messages": msgs[:upto]}, "usage": {"prompt_tokens": 10, "completion_tokens": 2},
                           "response": {"choices": [{"message": assistant}]}, "latency_s": 0.05}) + "\n"

    first = exchange(0, 2)
    log.write_text(first[:40])  # a line still being written
    assert follower.poll() == 0 and buf.getvalue() == ""
    with log.open("w") as fh:
        fh.write(first)
    assert follower.poll() == 1
    assert "step 1" in buf.getvalue() and "▶ bash cat calc/arith.py" in buf.getvalue()
    assert "◀" not in buf.getvalue()  # the output is not known yet
    with log.open("a") as fh:
        fh.write(exchange(1, 4))
        fh.write(exchange(2, 6))
    assert follower.poll() == 2
    text = buf.getvalue()
    assert text.index("step 1") < text.index("◀ bash output") < text.index("step 2") < text.index(
        "◀ edit output") < text.index("step 3")
    assert "line 199" in text
    follower.finish(traj)  # the last step's output comes from the final trajectory
    assert buf.getvalue().rstrip().endswith("submitted")
