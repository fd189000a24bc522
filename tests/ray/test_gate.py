"""The relay gate and the wire format, in milliseconds: real sockets, real relay, no Ray needed."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dgm.evolve.items import AgentOutcome, EvalOutcome
from dgm.llm.gateway import Gateway
from dgm.llm.relay import Relay
from dgm.llm.relay_client import RelayClient
from dgm.llm.relay_gate import RelayGate
from dgm.llm.settings import ModelSettings
from dgm.ray import wire
from dgm.ray.forwarder import NodeRelay

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def relay(tmp_path_factory: pytest.TempPathFactory):
    settings = ModelSettings(model="openai/none", api_base="http://127.0.0.1:9/v1", tokens_only=True)
    with Relay(Gateway({"task": settings}), Path(tmp_path_factory.mktemp("r", numbered=True))) as r:
        yield r


def test_node_relay_reaches_the_driver_relay_only_with_the_run_secret(relay: Relay, tmp_path: Path) -> None:
    secret = b"s" * 32
    token = relay.issue_token("acct", role="task")
    with RelayGate(relay.socket_path, secret) as gate:
        with NodeRelay(gate.address, secret) as node:
            reply = RelayClient(node.socket_path, token).usage()
            assert reply.status == 200 and reply.body["account"] == "acct"
            # The sandbox's token is judged by the driver's relay, exactly as on the driver.
            assert RelayClient(node.socket_path, "forged").usage().status == 401
            relay.revoke(token)
            assert RelayClient(node.socket_path, token).usage().status == 401
        with NodeRelay(gate.address, b"x" * 32) as stranger:
            reply = RelayClient(stranger.socket_path, token).usage()
            assert reply.status == 503 and "cannot reach the driver's relay" in reply.body["error"]["message"]
        assert gate.refused == 1
        # A raw client that does not answer the challenge gets nothing from the relay.
        with socket.create_connection(gate.address) as raw:
            raw.settimeout(10)
            hello = raw.recv(64)
            raw.sendall(b"GET /v1/usage HTTP/1.1\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n" + b"\0" * 64)
            rest = raw.recv(4096)
        assert hello.startswith(b"DGMGATE1") and b"HTTP" not in rest


def test_worker_answers_are_read_like_sandbox_output(tmp_path: Path) -> None:
    agent = AgentOutcome("submitted", "diff", None, {}, "log", 1.0)
    back = wire.outcome_from(wire.outcome_bytes(EvalOutcome("t-1", 1, agent, resolved=True)))
    assert back.resolved and back.agent.patch == "diff"
    with pytest.raises(wire.WireRefused):
        wire.outcome_from(json.dumps({"kind": "eval", "instance_id": "x", "stage": 1, "agent": {"status": 1}}).encode())
    with pytest.raises(wire.WireRefused):
        wire.outcome_from(b'{"kind": "agent", "status": "submitted", "patch": "", "trajectory": {"steps": 3},'
                          b' "usage": {}, "log": "", "seconds": 0}')
    for forged in ({"kind": "check", "compiled": "yes", "compile_log": "", "tests_passed": True, "tests_log": "",
                    "seconds": 1}, {"kind": "eval", "instance_id": "t", "stage": 1, "resolved": 1, "agent": {
                        "status": "submitted", "patch": "", "trajectory": None, "usage": {}, "log": "", "seconds": 1}}):
        with pytest.raises(wire.WireRefused):  # a field of the wrong type is refused, not read for its truth
            wire.outcome_from(json.dumps(forged).encode())
    with pytest.raises(wire.WireRefused):
        wire.outcome_from(b"[" * 100_000)
    for name in ("../escape", "/etc/passwd", "a/../../b", "llm_calls.jsonl", ".hidden"):
        with pytest.raises(wire.WireRefused):
            wire.write_files({name: b"x"}, tmp_path / "out")
    assert not (tmp_path / "escape").exists()
    assert wire.write_files({"run.json": b"{}", "sub/eval.log": b"ok"}, tmp_path / "out") == 2
    assert (tmp_path / "out" / "sub" / "eval.log").read_bytes() == b"ok"


def test_choosing_ray_without_it_names_the_extra(tmp_path: Path) -> None:
    code = ("import sys, runpy; sys.modules['ray'] = None; "  # how Python spells "not installed"
            "sys.argv = ['dgm.evolve', 'configs/offline-demo.toml', '-c', 'run.dir=\"%s\"', "
            "'-c', 'evolve.executor=\"ray\"']; runpy.run_module('dgm.evolve', run_name='__main__')"
            ) % (tmp_path / "run")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert len(lines) == 1 and "pip install -e '.[ray]'" in lines[0], lines
    assert not (tmp_path / "run").exists()


def test_an_unreachable_address_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: nobody answers
        out = subprocess.run([sys.executable, "-m", "dgm.evolve", "configs/offline-demo.toml",
                              "-c", f'run.dir="{tmp_path / "run"}"', "-c", 'evolve.executor="ray"',
                              "-c", f'evolve.ray_address="127.0.0.1:{port}"'],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "unreachable" in lines[0], lines
    assert not (tmp_path / "run").exists()  # nothing opened, nothing spent
