"""`dgm replay` on poisoned inputs: a trajectory or a call log an agent shaped is data. Each ends in a
one-line error (exit 2) or a rendered best effort — never a traceback, never a hang."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from dgm.replay.follow import CallsFollower

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "agents_archive" / "seed"


def dgm(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LITELLM_OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "dgm", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)  # the test's own deadline: a reader stuck on a FIFO fails here


def plant(kind: str, path: Path) -> str:
    """Put a poisoned trajectory.json of KIND at PATH; returns what the error must say."""
    writes = {
        "wrong_types": (json.dumps({"format": "dgm-trajectory-1", "steps": [{"i": 1, "outputs": [["x"]]}]}),
                        "steps[0].outputs[0] is a list, not a string"),
        "seconds_text": (json.dumps({"format": "dgm-trajectory-1", "steps": [{"seconds": "slow"}]}),
                         "steps[0].seconds is a string, not a number"),
        "messages_number": (json.dumps({"format": "dgm-trajectory-1", "messages": 5}), "messages is a number"),
        "list_document": ("[1, 2]", "the document is a list, not an object"),
        "deep": ('{"format": "dgm-trajectory-1", "steps": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper than"),
        "huge": ('{"format": "dgm-trajectory-1", "reason": "' + "x" * 10_000_001 + '"}', "larger than 10000000 bytes"),
        "truncated": ('{"format": "dgm-trajectory-1", "steps": [', "is not JSON"),
    }
    if kind in writes:
        text, said = writes[kind]
        path.write_text(text)
        return said
    if kind == "not_utf8":
        path.write_bytes(b'{"format": "dgm-trajectory-1", "reason": "\xff"}')
        return "is not UTF-8"
    if kind == "link_to_dev_zero":
        path.symlink_to("/dev/zero")
        return "is a symbolic link"
    if kind == "fifo":
        os.mkfifo(path)
        return "is a FIFO"
    if kind == "directory":
        path.mkdir()
        return "is a directory"
    raise AssertionError(kind)


KINDS = ["wrong_types", "seconds_text", "messages_number", "list_document", "deep", "huge", "truncated", "not_utf8",
         "link_to_dev_zero", "fifo", "directory"]


@pytest.mark.parametrize("kind", KINDS)
def test_print_a_poisoned_trajectory_is_one_line_exit_2(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "trajectory.json"
    said = plant(kind, path)
    got = dgm("replay", "--trajectory", str(path))
    assert got.returncode == 2, got.stdout[-1000:] + got.stderr[-2000:]
    assert "Traceback" not in got.stderr and len(got.stderr.strip().splitlines()) == 1, got.stderr
    assert said in got.stderr and str(path) in got.stderr, got.stderr


def poisoned_log(path: Path) -> None:
    lines = [{"accounts": 5, "request": {"messages": 5}, "response": {"choices": "x"}},
             {"account": "a", "request": {"messages": [{"role": "user", "content": ["x"]}, 7]},
              "response": {"choices": [{"message": {"content": ["x"], "tool_calls": ["y", {"function": "z"}]}}]},
              "usage": ["x"], "latency_s": "slow"},
             {"request": "x", "response": None, "error": {"nested": [1]}}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n" + "[" * 5000 + "\n\xff\n")


def test_replay_from_a_poisoned_log_is_one_line_exit_2(tmp_path: Path) -> None:
    from dgm.archive import Archive

    run = tmp_path / "run"
    Archive.create(run, SEED).close()
    task_dir = run / "artifacts" / "0" / "tasks" / "t-1"
    task_dir.mkdir(parents=True)
    plant("messages_number", task_dir / "trajectory.json")
    poisoned_log(task_dir / "llm_calls.jsonl")
    poisoned_log(run / "llm_calls.jsonl")
    got = dgm("replay", "--run", str(run), "--node", "0", "--instance", "t-1", "--from-log")
    assert got.returncode == 2, got.stdout[-1000:] + got.stderr[-2000:]
    assert "Traceback" not in got.stderr and len(got.stderr.strip().splitlines()) == 1, got.stderr
    got = dgm("replay", "--run", str(run), "--node", "0", "--instance", "t-1", "--from-log", "--account", "a",
              "--log", str(run / "llm_calls.jsonl"))
    assert got.returncode == 2 and "Traceback" not in got.stderr, got.stderr


def test_the_follower_prints_a_best_effort_of_a_poisoned_log(tmp_path: Path) -> None:
    log = tmp_path / "llm_calls.jsonl"
    poisoned_log(log)
    buf = io.StringIO()
    follower = CallsFollower(log, Console(file=buf, width=120, highlight=False), account="a")
    assert follower.poll() == 1
    follower = CallsFollower(log, Console(file=buf, width=120, highlight=False))
    assert follower.poll() == 3
    follower.finish({"format": "dgm-trajectory-1", "steps": [{"outputs": [["x"]]}]})  # unusable: ignored
    assert "step 1" in buf.getvalue() and "model call failed" in buf.getvalue()
