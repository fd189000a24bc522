"""The whole agent, run as the engine runs it (a subprocess), against the scripted fake relay."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fake_relay import call, calls, load, run_agent, say


def fix_script():
    return [
        call("editor", command="view", path="calc.py"),
        call("editor", command="str_replace", path="calc.py", old_str="return a - b", new_str="return a + b"),
        call("bash", command="python3 -m pytest -q test_calc.py 2>&1 | tail -3"),
        call("submit", summary="add() now adds"),
    ]


def test_fixes_the_bug_and_submits(relay_factory, repo, tmp_path):
    relay = relay_factory(fix_script())
    proc = run_agent(relay, repo, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    with open(os.path.join(repo, "calc.py")) as fh:
        assert fh.read() == "def add(a, b):\n    return a + b\n"
    traj = load(str(tmp_path / "out" / "trajectory.json"))
    assert traj["format"] == "dgm-trajectory-1" and traj["instance_id"] == "demo__calc-1"
    assert traj["status"] == "submitted" and traj["reason"] == "add() now adds"
    assert [s["tool_calls"][0]["name"] for s in traj["steps"]] == ["editor", "editor", "bash", "submit"]
    assert "1 passed" in traj["steps"][2]["outputs"][0]
    assert traj["usage"] == {"tokens_in": 400, "tokens_out": 40, "cost_usd": 0.0, "calls": 4}
    assert traj["started_at"] and traj["finished_at"]
    roles = [m["role"] for m in traj["messages"]]
    assert roles[:3] == ["system", "user", "assistant"] and roles.count("tool") == 4
    assert load(str(tmp_path / "out" / "result.json")) == {"status": "submitted", "reason": "add() now adds"}
    # The model saw its tools and the issue.
    first = relay.requests[0]
    assert {t["function"]["name"] for t in first["tools"]} == {"bash", "editor", "submit"}
    assert "add() subtracts" in first["messages"][1]["content"]


def test_trajectory_is_on_disk_after_every_step(relay_factory, repo, tmp_path):
    path = str(tmp_path / "out" / "trajectory.json")
    seen = []

    def peek(request):
        seen.append(len(load(path)["steps"]) if os.path.exists(path) else None)
        return call("bash", command="echo step")

    relay = relay_factory([peek, peek, peek, call("submit")])
    assert run_agent(relay, repo, str(tmp_path)).returncode == 0
    # Each request is made while that step is open: the previous steps are already saved.
    assert seen == [None, 1, 2]


def test_step_limit_exits_3(relay_factory, repo, tmp_path):
    relay = relay_factory([call("bash", command="echo again")] * 10)
    proc = run_agent(relay, repo, str(tmp_path), limits={"max_steps": 3})
    assert proc.returncode == 3
    traj = load(str(tmp_path / "out" / "trajectory.json"))
    assert traj["status"] == "limit" and "max_steps=3" in traj["reason"]
    assert len(traj["steps"]) == 3 and len(relay.requests) == 3
    # The model was warned before the end, in the observation of its last calls.
    assert "2 step(s) left" in relay.requests[1]["messages"][-1]["content"]
    assert "1 step(s) left" in relay.requests[2]["messages"][-1]["content"]


def test_dollar_limit_from_usage_and_402_from_relay(relay_factory, repo, tmp_path):
    relay = relay_factory([call("bash", command="true")] * 10, cost_per_call=0.3)
    proc = run_agent(relay, repo, str(tmp_path / "a"), limits={"max_usd": 0.5})
    assert proc.returncode == 3 and len(relay.requests) == 2
    relay = relay_factory([call("bash", command="true"), (402, b'{"error": {"message": "budget"}}')])
    proc = run_agent(relay, repo, str(tmp_path / "b"))
    assert proc.returncode == 3
    assert load(str(tmp_path / "b" / "out" / "result.json"))["status"] == "limit"


def test_time_limit_cuts_a_long_command(relay_factory, repo, tmp_path):
    relay = relay_factory([call("bash", command="sleep 60"), call("bash", command="echo late")])
    proc = run_agent(relay, repo, str(tmp_path), limits={"max_seconds": 2})
    assert proc.returncode == 3
    traj = load(str(tmp_path / "out" / "trajectory.json"))
    assert "timed out" in traj["steps"][0]["outputs"][0] and "max_seconds" in traj["reason"]


def test_bad_replies_are_fed_back_not_fatal(relay_factory, repo, tmp_path):
    relay = relay_factory([
        say("I think I should look around."),
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "x", "type": "function", "function": {"name": "bash", "arguments": "{not json"}}]},
        call("teleport", where="moon"),
        call("editor", command="str_replace", path="calc.py", old_str="nope", new_str=""),
        calls(("bash", {"command": "echo first"}), ("submit", {}), ("bash", {"command": "echo never"})),
    ])
    proc = run_agent(relay, repo, str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    traj = load(str(tmp_path / "out" / "trajectory.json"))
    contents = [m.get("content") or "" for m in traj["messages"]]
    assert any("called no tool" in c for c in contents)
    assert any("not valid JSON" in c for c in contents)
    assert any("unknown tool" in c for c in contents)
    assert any("not found" in c for c in contents)
    assert traj["steps"][-1]["outputs"][-1].startswith("not run")


def test_garbage_from_the_model_is_a_recorded_error(relay_factory, repo, tmp_path):
    relay = relay_factory([call("bash", command="true"), (200, b"<html>garbage</html>")])
    proc = run_agent(relay, repo, str(tmp_path))
    assert proc.returncode == 1
    traj = load(str(tmp_path / "out" / "trajectory.json"))
    assert traj["status"] == "error" and "unusable model reply" in traj["reason"]
    assert len(traj["steps"]) == 2


def test_long_runs_elide_old_outputs(relay_factory, repo, tmp_path):
    relay = relay_factory([call("bash", command="seq 1 2000")] * 6)
    proc = run_agent(relay, repo, str(tmp_path), limits={"max_context_chars": 12000, "max_steps": 7})
    assert proc.returncode == 0, proc.stderr
    last = json.dumps(relay.requests[-1]["messages"])
    assert "elided" in last
    traj = load(str(tmp_path / "out" / "trajectory.json"))
    assert "elided" not in json.dumps(traj["messages"])  # the record keeps everything


def test_bad_task_file_exits_1(relay_factory, tmp_path):
    relay = relay_factory([])
    (tmp_path / "task.json").write_text("{broken")
    proc = subprocess.run([sys.executable, os.path.join(os.path.dirname(os.path.dirname(__file__)), "agent.py"),
                           "--task", str(tmp_path / "task.json"), "--repo", str(tmp_path),
                           "--out", str(tmp_path / "out")], env=relay.env(), capture_output=True, text=True)
    assert proc.returncode == 1
    assert load(str(tmp_path / "out" / "result.json"))["status"] == "error"
