"""Agent variants that crash, hang, print megabytes or write garbage: recorded, never fatal."""

from __future__ import annotations

import json

import pytest

from dgm.agent import AgentLimits, run_agent

from .conftest import tool

pytestmark = pytest.mark.docker

VARIANTS = {
    "raises_at_import": ("import json\nraise RuntimeError('broken at import')\n", "crashed"),
    "loops_forever": ("while True:\n    pass\n", "timeout"),
    "prints_megabytes": ("import sys\nfor _ in range(40):\n    sys.stdout.write('x' * 1_000_000)\n", "crashed"),
    "writes_garbage": ("import os\nos.makedirs('/io/out', exist_ok=True)\n"
                       "open('/io/out/trajectory.json', 'w').write('{not json')\n", "crashed"),
    "eats_memory": ("blocks = []\nwhile True:\n    blocks.append(bytearray(50_000_000))\n", "killed"),
    "breaks_git": ("import shutil\nshutil.rmtree('/testbed/.git')\nraise SystemExit(1)\n", "crashed"),
}


def setup_repo(box) -> None:
    box.put_file("/testbed/a.py", b"x = 1\n")
    assert box.exec("git init -q && git add -A && git commit -qm base").ok


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_broken_variant_is_a_recorded_failure(variant, agent_image, run_id, scripted_relay, tmp_path):
    source, expected = VARIANTS[variant]
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "agent.py").write_text(source)
    relay, _ = scripted_relay([tool("submit")])
    out = tmp_path / "out"
    from dgm.sandbox import Limits

    run = run_agent(tree, image=agent_image, problem_statement="anything", instance_id=f"broken__{variant}",
                    relay=relay, run_id=run_id, account=f"task:{variant}",
                    limits=AgentLimits(max_steps=5, max_seconds=3), repo_setup=setup_repo, out_dir=out,
                    sandbox_limits=Limits(memory_mb=256, wall_seconds=120))
    assert run.status == expected, (run.reason, run.notes, run.log[-500:])
    assert run.trajectory is None and run.patch == ""
    assert len(run.log) <= 300_000
    assert (out / "run.json").is_file() and (out / "agent.log").is_file()
    if variant == "raises_at_import":
        assert run.exit_code == 1 and "broken at import" in run.log
    if variant == "loops_forever":
        assert "killed" in run.reason
    if variant == "prints_megabytes":
        assert any("bytes: the rest was dropped" in n for n in run.notes)
        assert "characters of agent output omitted" in run.log
    if variant == "writes_garbage":
        assert any("trajectory.json is not JSON" in n for n in run.notes)
    if variant == "eats_memory":
        assert "out of memory" in run.reason
    if variant == "breaks_git":
        assert any(n.startswith("no patch") for n in run.notes)


STEAL_TOKEN = """import json, os
open('/testbed/token.txt', 'w').write(os.environ['DGM_RELAY_TOKEN'] + '\\n')
os.makedirs('/io/out', exist_ok=True)
json.dump({'format': 'dgm-trajectory-1', 'steps': [], 'status': 'submitted', 'reason': 'kept the token'},
          open('/io/out/trajectory.json', 'w'))
"""


def test_the_relay_token_dies_with_the_run(agent_image, run_id, scripted_relay, tmp_path):
    import http.client
    import socket

    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "agent.py").write_text(STEAL_TOKEN)
    relay, server = scripted_relay([tool("submit")])
    run = run_agent(tree, image=agent_image, problem_statement="anything", instance_id="steal",
                    relay=relay, run_id=run_id, account="task:steal",
                    limits=AgentLimits(max_steps=5, max_seconds=30), repo_setup=setup_repo)
    assert run.status == "submitted", (run.reason, run.notes, run.log)
    token = [ln[1:] for ln in run.patch.splitlines() if ln.startswith("+") and not ln.startswith("+++")][0]

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(str(relay.socket_path))

    conn = UnixConnection("localhost", timeout=10)
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    conn.request("POST", "/v1/chat/completions", body=body,
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    response = conn.getresponse()
    assert response.status == 401 and b"revoked" in response.read()
    assert server.requests == []
