"""What the engine makes of the files an agent leaves: parsed as untrusted data, classified."""

from __future__ import annotations

import pytest

from dgm.agent.runner import AgentRun, cap_log, classify, write_outputs
from dgm.artifacts import AgentResult, ArtifactInvalid, parse_trajectory, trajectory_from_json

TRAJ = {"format": "dgm-trajectory-1", "status": "submitted", "reason": "done"}
CHECKED = trajectory_from_json(TRAJ)


def test_unusable_trajectories_are_a_reason_never_an_exception():
    assert parse_trajectory(b'{"format": "dgm-trajectory-1"}').status == "running"
    for data in [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b"[" * 200_000 + b"]" * 200_000, b""]:
        with pytest.raises(ArtifactInvalid) as info:
            parse_trajectory(data)
        assert info.value.about("t.json").startswith("t.json")


def test_classify():
    assert classify(0, False, False, CHECKED, None, 10) == ("submitted", "done")
    assert classify(3, False, False, CHECKED, AgentResult("limit", "steps"), 10) == ("limit", "steps")
    assert classify(0, False, False, None, None, 10)[0] == "crashed"
    assert classify(1, False, False, None, AgentResult("error", "model"), 10) == ("error", "model")
    # An output that breaks the ABI makes the run crashed, whatever the exit code and the agent say.
    assert classify(0, False, False, None, AgentResult("submitted", "fine"), 10,
                    invalid="trajectory.json: steps[3].outputs[0] is a list, not a string") == (
        "crashed", "trajectory.json: steps[3].outputs[0] is a list, not a string")
    assert classify(1, False, False, None, None, 10)[0] == "crashed"
    assert classify(None, True, False, None, None, 10)[0] == "timeout"
    assert classify(137, False, True, CHECKED, None, 10)[0] == "killed"
    assert classify(-11, False, False, CHECKED, None, 10)[0] == "crashed"


def test_cap_log_keeps_head_and_tail():
    text = "A" * 1000 + "B" * 1000
    out = cap_log(text, 200)
    assert out.startswith("A" * 100) and out.endswith("B" * 100) and "1800 characters" in out


def test_write_outputs(tmp_path):
    run = AgentRun(status="submitted", exit_code=0, patch="diff --git a/x b/x\n", trajectory=TRAJ, usage={"calls": 1},
                   log="hello", seconds=1.5, reason="done", base_commit="a" * 40)
    write_outputs(run, tmp_path / "out")
    import json

    summary = json.loads((tmp_path / "out" / "run.json").read_text())
    assert summary["status"] == "submitted" and summary["patch_bytes"] == len(run.patch)
    assert "patch" not in summary and "trajectory" not in summary
    assert json.loads((tmp_path / "out" / "trajectory.json").read_text()) == TRAJ
    assert (tmp_path / "out" / "patch.diff").read_text() == run.patch
    assert (tmp_path / "out" / "agent.log").read_text() == "hello"
