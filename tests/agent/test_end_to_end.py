"""The seed agent, driven by a scripted model through the real relay, fixes a bug inside a sandbox."""

from __future__ import annotations

import json

import pytest

from dgm.agent import SEED_TREE, AgentLimits, drop_test_changes, run_agent
from dgm.agent.patch import changed_files

from .conftest import tool

pytestmark = pytest.mark.docker

CALC = "def add(a, b):\n    return a - b\n"
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
PROBLEM = "calc.add(2, 3) returns -1; it should return 5."


def setup_repo(box) -> None:
    """A tiny repository with a bug and a failing test, committed in /testbed."""
    box.put_file("/testbed/calc.py", CALC.encode())
    box.put_file("/testbed/test_calc.py", TEST.encode())
    res = box.exec("git init -q && git add -A && git commit -qm base")
    assert res.ok, res.output


def run_tests(agent_image: str, run_id: str, patch: str | None) -> "object":
    """pytest in a FRESH sandbox with the repository at its base commit, optionally patched."""
    from dgm.sandbox import Sandbox

    with Sandbox.start(agent_image, run_id=run_id) as box:
        setup_repo(box)
        if patch is not None:
            box.put_file("/tmp/model.patch", patch.encode())
            applied = box.exec("git apply --verbose /tmp/model.patch")
            assert applied.ok, applied.output
        return box.exec("python3 -m pytest -q test_calc.py", timeout=120)


FIX_SCRIPT = [
    tool("editor", command="view", path="calc.py"),
    tool("editor", command="str_replace", path="calc.py", old_str="return a - b", new_str="return a + b"),
    tool("bash", command="python3 -m pytest -q test_calc.py 2>&1 | tail -2"),
    # A change to a test file: part of the patch, dropped before grading. Build residue: not in the patch.
    tool("bash", command="echo '# checked' >> test_calc.py && mkdir -p __pycache__ x.egg-info && "
                         "echo x > __pycache__/calc.cpython-311.pyc && echo y > x.egg-info/PKG-INFO"),
    tool("submit", summary="add() adds now"),
]


def test_seed_fixes_a_bug_and_the_patch_passes_in_a_fresh_sandbox(agent_image, run_id, scripted_relay, tmp_path):
    relay, server = scripted_relay(FIX_SCRIPT)
    out = tmp_path / "out"
    run = run_agent(SEED_TREE, image=agent_image, problem_statement=PROBLEM, instance_id="toy__calc-1",
                    relay=relay, run_id=run_id, account="task:toy__calc-1",
                    limits=AgentLimits(max_steps=10, max_seconds=120, max_usd=1.0),
                    repo_setup=setup_repo, out_dir=out)
    assert run.status == "submitted", (run.reason, run.notes, run.log)
    assert run.exit_code == 0 and run.reason == "add() adds now"
    assert changed_files(run.patch) == ["calc.py", "test_calc.py"]
    assert "-    return a - b\n+    return a + b" in run.patch
    graded = drop_test_changes(run.patch)
    assert changed_files(graded) == ["calc.py"]

    # The agent's own steps happened in the sandbox, through the relay.
    traj = run.trajectory
    assert traj["format"] == "dgm-trajectory-1" and traj["instance_id"] == "toy__calc-1"
    assert [s["tool_calls"][0]["name"] for s in traj["steps"]] == ["editor", "editor", "bash", "bash", "submit"]
    assert "1 passed" in traj["steps"][2]["outputs"][0]
    assert run.usage["calls"] == 5 and run.usage["tokens_in"] > 0 and run.usage["cost_usd"] > 0
    assert len(server.requests) == 5
    assert {t["function"]["name"] for t in server.requests[0]["tools"]} == {"bash", "editor", "submit"}
    assert PROBLEM in json.dumps(server.requests[0]["messages"])

    # Artifacts of the run.
    assert json.loads((out / "run.json").read_text())["status"] == "submitted"
    assert (out / "patch.diff").read_text() == run.patch
    assert json.loads((out / "trajectory.json").read_text())["steps"]
    assert len((out / "llm_calls.jsonl").read_text().splitlines()) == 5

    # Grading: a fresh sandbox fails without the patch and passes with it.
    without = run_tests(agent_image, run_id, None)
    assert not without.ok and "1 failed" in without.output
    with_patch = run_tests(agent_image, run_id, graded)
    assert with_patch.ok and "1 passed" in with_patch.output, with_patch.output


def test_step_limit_is_a_limit_status(agent_image, run_id, scripted_relay):
    relay, _ = scripted_relay([tool("bash", command="echo busy")])  # the last reply repeats
    run = run_agent(SEED_TREE, image=agent_image, problem_statement=PROBLEM, instance_id="toy__calc-2",
                    relay=relay, run_id=run_id, account="task:toy__calc-2",
                    limits=AgentLimits(max_steps=3, max_seconds=60), repo_setup=setup_repo)
    assert run.status == "limit" and run.exit_code == 3, (run.reason, run.log)
    assert "max_steps" in run.reason and len(run.trajectory["steps"]) == 3
    assert run.patch == "" and run.usage["calls"] == 3


def test_trying_an_agent_by_hand_with_a_script_file(agent_image, tmp_path, capsys):
    import subprocess

    from dgm.agent.__main__ import main

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "calc.py").write_text(CALC)
    (repo / "test_calc.py").write_text(TEST)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "-A"], check=True)
    subprocess.run(git + ["commit", "-qm", "base"], check=True)
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"sequence": [
        {"tool_calls": [{"name": "editor", "arguments": {"command": "str_replace", "path": "calc.py",
                                                          "old_str": "a - b", "new_str": "a + b"}}]},
        {"tool_calls": [{"name": "submit", "arguments": {}}]}]}))
    code = main(["run", "--repo", str(repo), "--problem", PROBLEM, "--script", str(script),
                 "--out", str(tmp_path / "out"), "--image", agent_image])
    printed = capsys.readouterr().out
    assert code == 0 and "status: submitted" in printed, printed
    assert "+    return a + b" in (tmp_path / "out" / "patch.diff").read_text()
    assert (repo / "calc.py").read_text() == CALC  # the host repository is never touched


def test_seed_runs_on_python_3_9(run_id, scripted_relay):
    """Some task images are Debian bullseye: the seed must work on its Python 3.9."""
    from dgm.sandbox import ensure_base_image

    image = ensure_base_image("bullseye")
    check = "python3 -c 'import sys; from calc import add; assert add(2, 3) == 5; print(sys.version[:4])'"
    relay, _ = scripted_relay([
        tool("editor", command="view", path="calc.py", view_range=[1, 2]),
        tool("editor", command="str_replace", path="calc.py", old_str="a - b", new_str="a + b"),
        tool("bash", command=check),
        tool("submit", summary="fixed on 3.9"),
    ])
    run = run_agent(SEED_TREE, image=image, problem_statement=PROBLEM, instance_id="toy__calc-39",
                    relay=relay, run_id=run_id, account="task:toy__calc-39",
                    limits=AgentLimits(max_steps=10, max_seconds=120), repo_setup=setup_repo)
    assert run.status == "submitted", (run.reason, run.notes, run.log)
    assert run.trajectory["steps"][2]["outputs"][0].startswith("3.9")
    assert "+    return a + b" in run.patch
