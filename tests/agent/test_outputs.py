"""What the engine makes of the files an agent leaves: parsed as untrusted data, classified."""

from __future__ import annotations

from dgm.agent.runner import AgentRun, cap_log, classify, parse_untrusted_json, write_outputs

TRAJ = {"format": "dgm-trajectory-1", "status": "submitted", "reason": "done"}


def test_untrusted_json_never_raises():
    notes: list[str] = []
    assert parse_untrusted_json(b'{"format": "dgm-trajectory-1"}', "t.json", notes) == {"format": "dgm-trajectory-1"}
    for data in [b"{not json", b"\xff\xfe\x00", b"[1, 2]", b"[" * 200_000 + b"]" * 200_000, b""]:
        assert parse_untrusted_json(data, "t.json", notes) is None
    assert len(notes) == 5 and all(n.startswith("t.json is") for n in notes)


def test_classify():
    assert classify(0, False, False, TRAJ, None, 10) == ("submitted", "done")
    assert classify(3, False, False, TRAJ, {"status": "limit", "reason": "steps"}, 10) == ("limit", "steps")
    assert classify(0, False, False, None, None, 10)[0] == "crashed"
    assert classify(1, False, False, None, {"status": "error", "reason": "model"}, 10) == ("error", "model")
    assert classify(1, False, False, None, None, 10)[0] == "crashed"
    assert classify(None, True, False, None, None, 10)[0] == "timeout"
    assert classify(137, False, True, TRAJ, None, 10)[0] == "killed"
    assert classify(-11, False, False, TRAJ, None, 10)[0] == "crashed"


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
