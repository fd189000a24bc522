"""The trajectory schema and the bounded readers: every unusable input is a one-line reason naming
where it breaks, never an exception of another kind, never a hang, never unbounded memory."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from pathlib import Path

import pytest

from dgm.artifacts import (ArtifactInvalid, JsonLimits, parse_bounded, parse_result, parse_trajectory,
                           read_regular, read_trajectory)
from dgm.artifacts.calls import iter_calls

SEED_TRAJECTORY = Path(__file__).resolve().parents[2] / "agents_archive" / "seed" / "coder" / "trajectory.py"


def seed_document(tmp_path: Path) -> dict:
    """A trajectory written by the seed's own code (its format is the ABI, not ours to change)."""
    spec = importlib.util.spec_from_file_location("seed_trajectory", SEED_TRAJECTORY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    traj = module.Trajectory(str(tmp_path), "toy__calc-1", [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "fix add()"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "ls"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "calc.py\n"}])
    traj.add_step({"i": 1, "tool_calls": [{"id": "c1", "name": "bash", "arguments": '{"command": "ls"}'}],
                   "outputs": ["calc.py\n"], "seconds": 0.2, "usage": {"tokens_in": 10, "tokens_out": 2, "cost_usd": 0.1}})
    traj.finish("submitted", "done")
    traj.save({"tokens_in": 10, "tokens_out": 2, "cost_usd": 0.1, "calls": 1})
    return json.loads((tmp_path / "trajectory.json").read_text())


def test_the_seeds_trajectory_is_valid_and_kept_whole(tmp_path: Path) -> None:
    doc = seed_document(tmp_path)
    traj = read_trajectory(tmp_path / "trajectory.json")
    assert traj.status == "submitted" and traj.instance_id == "toy__calc-1"
    assert traj.steps[0].outputs == ["calc.py\n"] and traj.steps[0].tool_calls[0].name == "bash"
    assert traj.messages[2].tool_calls[0].arguments == '{"command": "ls"}'
    cleaned = traj.to_json()
    assert cleaned["steps"] == doc["steps"] and cleaned["usage"] == doc["usage"]
    assert [m["role"] for m in cleaned["messages"]] == ["system", "user", "assistant", "tool"]
    assert cleaned["messages"][2]["tool_calls"] == doc["messages"][2]["tool_calls"]


def base(**fields) -> dict:
    return {"format": "dgm-trajectory-1", "status": "submitted", **fields}


WRONG = [
    (base(steps=[{"i": 1}, {"i": 2}, {"i": 3}, {"i": 4, "content": ["a"]}]), "steps[3].content is a list, not a string"),
    (base(steps=[{"outputs": [{"x": 1}]}]), "steps[0].outputs[0] is an object, not a string"),
    (base(steps=[{"tool_calls": [{"name": 7}]}]), "steps[0].tool_calls[0].name is a number, not a string"),
    (base(steps={"i": 1}), "steps is an object, not a list"),
    (base(steps=[{"seconds": "slow"}]), "steps[0].seconds is a string, not a number"),
    (base(steps=[{"i": "one"}]), "steps[0].i is a string, not a number"),
    (base(messages=5), "messages is a number, not a list"),
    (base(messages=[{"role": "assistant", "tool_calls": [{"function": "oops"}]}]),
     "messages[0].tool_calls[0].function is a string, not an object"),
    (base(messages=[{"role": ["user"]}]), "messages[0].role is a list, not a string"),
    (base(messages=[{"role": "user", "content": 3}]), "messages[0].content is a number, not a string"),
    (base(messages=[{"role": "user", "content": [{"text": ["deep"]}]}]), "messages[0].content[0].text is a list"),
    (base(usage={"cost_usd": "free"}), "usage.cost_usd is a string, not a number"),
    (base(usage={"\x1b[2J": "x"}), "usage.??2J is a string"),
    (base(reason={"why": 1}), "reason is an object, not a string"),
    (base(status="done"), "status is 'done', not one of"),
    ({"status": "submitted"}, "format is null, not 'dgm-trajectory-1'"),
    ([base()], "the document is a list, not an object"),
]


@pytest.mark.parametrize("doc,reason", WRONG, ids=[r for _, r in WRONG])
def test_wrong_types_at_any_depth_name_the_path(doc: object, reason: str) -> None:
    with pytest.raises(ArtifactInvalid) as info:
        parse_trajectory(json.dumps(doc).encode())
    assert str(info.value).startswith(reason), str(info.value)
    assert "\x1b" not in str(info.value)


CAPS = [
    (b"[" * 10_000 + b"]" * 10_000, "is nested deeper than 32 levels"),
    (json.dumps(base(messages=[{"role": "user", "content": ""}] * 80_000)).encode(), "holds more than 200000 JSON values"),
    (b'{"format": "dgm-trajectory-1", "usage": {"x": NaN}}', "holds NaN"),
    (b'{"format": "dgm-trajectory-1", "usage": {"x": 1e999}}', "usage.x is not a finite number"),
    (b'{"format": "dgm-trajectory-1", "usage": {"x": ' + b"9" * 5000 + b"}}", "is not usable JSON"),
    (b'{"format": "dgm-trajectory-1", "reason": "\xff\xfe"}', "is not UTF-8"),
    (json.dumps(base())[:-7].encode(), "is not JSON"),
    (b"", "is not JSON"),
    (b" " * 10_000_001, "is larger than 10000000 bytes"),
]


@pytest.mark.parametrize("data,reason", CAPS, ids=[r for _, r in CAPS])
def test_caps_hold_while_parsing(data: bytes, reason: str) -> None:
    with pytest.raises(ArtifactInvalid) as info:
        parse_trajectory(data)
    assert reason in str(info.value), str(info.value)


def test_the_value_cap_stops_the_parse_early() -> None:
    # A flat list of ten million values: refused after the cap, before they all exist as objects.
    data = b"[" + b"0," * 10_000_000 + b"0]"
    with pytest.raises(ArtifactInvalid, match="more than 1000 JSON values"):
        parse_bounded(data, JsonLimits(max_bytes=len(data), max_values=1000))


def test_unpaired_surrogates_are_replaced_so_the_record_can_be_written() -> None:
    traj = parse_trajectory(b'{"format": "dgm-trajectory-1", "reason": "a\\ud800b", "steps": [{"outputs": ["\\udfff"]}]}')
    json.dumps(traj.to_json(), ensure_ascii=False).encode("utf-8")  # would raise on a lone surrogate
    assert traj.reason.startswith("a") and traj.reason.endswith("b")


def test_result_json_schema() -> None:
    assert parse_result(b'{"status": "error", "reason": "model"}').status == "error"
    for data, reason in [(b'{"status": ["error"]}', "status is a list"), (b'{"status": "won"}', "status is 'won'"),
                         (b'{"reason": 5}', "reason is a number"), (b"[]", "the document is a list"),
                         (b'{"reason": "' + b"x" * 100_001 + b'"}', "larger than 100000 bytes")]:
        with pytest.raises(ArtifactInvalid, match=reason):
            parse_result(data)


def bounded(fn, *args, seconds: float = 20.0):
    """Run FN in a thread and give up after SECONDS: a hang is a test failure, not a stuck suite."""
    box: dict = {}

    def work() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{getattr(fn, '__name__', fn)} did not return within {seconds} s"
    return box


def release(fifo: Path) -> None:
    """Open the FIFO's other end so a reader stuck on it (old code) can end."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def test_host_reads_regular_files_only(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text("{}")
    assert read_regular(good, 10) == b"{}"
    (tmp_path / "link").symlink_to(good)
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "dir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    try:
        for name, kind in [("link", "symbolic link"), ("zero", "symbolic link"), ("dir", "directory"),
                           ("fifo", "FIFO")]:
            got = bounded(read_regular, tmp_path / name, 1000)
            assert isinstance(got.get("error"), ArtifactInvalid) and kind in str(got["error"]), (name, got)
    finally:
        release(tmp_path / "fifo")
    got = bounded(read_regular, Path("/dev/null"), 1000)
    assert "character device" in str(got["error"])
    with pytest.raises(ArtifactInvalid, match="larger than 1 bytes"):
        read_regular(good, 1)
    assert read_regular(good, 1, head=True) == b"{"
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "missing", 10)


def test_call_recordings_skip_what_breaks_the_caps(tmp_path: Path) -> None:
    path = tmp_path / "llm_calls.jsonl"
    good = {"account": "a", "request": {"messages": [{"role": "user", "content": "hi"}]}, "response": {"choices": []}}
    path.write_bytes(b"\n".join([json.dumps(good).encode(), b"[" * 100 + b"]" * 100, b"\xff{", b"{torn",
                                 json.dumps(good).encode(), b""]))
    assert list(iter_calls(path)) == [good, good]
    os.mkfifo(tmp_path / "fifo")
    try:
        assert bounded(lambda: list(iter_calls(tmp_path / "fifo")))["value"] == []
    finally:
        release(tmp_path / "fifo")
