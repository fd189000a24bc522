"""The relay over its real unix socket, with http.client on AF_UNIX, in front of a real gateway."""

from __future__ import annotations

import socket
import stat
import threading
from pathlib import Path

import pytest

from dgm.errors import ModelError
from dgm.llm import Gateway, Relay, RelayClient, ScriptedModelServer
from dgm.llm.recording import read

HELLO = [{"role": "user", "content": "hello"}]
REPLY = {"content": "hi from the model", "usage": {"prompt_tokens": 1000, "completion_tokens": 500}}


@pytest.fixture
def server():
    with ScriptedModelServer([{"match": None, "replies": [REPLY]}]) as s:
        yield s


@pytest.fixture
def relay(server, settings_for, short_dir):
    # $30 / $60 per Mtok: each scripted call costs exactly $0.06 and reserves about $0.068 (body bytes +
    # margin in, 500 out)
    gateway = Gateway({"task": settings_for(server, model="openai/task-model", price_in_per_mtok=30.0,
                                            price_out_per_mtok=60.0, max_tokens=500),
                       "selfmod": settings_for(server, model="openai/selfmod-model")}, budget_usd=1.0,
                      record_path=short_dir / "run" / "llm_calls.jsonl")
    with Relay(gateway, short_dir / "relay") as r:
        yield r


def test_call_through_the_relay_uses_the_tokens_role(relay, server):
    token = relay.issue_token("sandbox:1", role="task")
    reply = RelayClient(relay.socket_path, token).chat(
        HELLO, model="gpt-something-the-sandbox-wants", temperature=0.2, max_tokens=77,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}], tool_choice="auto")
    assert reply.status == 200, reply.body
    assert reply.body["choices"][0]["message"]["content"] == "hi from the model"
    sent = server.requests[-1]
    assert sent["model"] == "task-model"  # the request's model is ignored
    assert (sent["temperature"], sent["max_tokens"], sent["tool_choice"]) == (0.2, 77, "auto")
    assert sent["tools"][0]["function"]["name"] == "f"
    selfmod = relay.issue_token("node:4", role="selfmod")
    assert RelayClient(relay.socket_path, selfmod).chat(HELLO).status == 200
    assert server.requests[-1]["model"] == "selfmod-model"
    snap = relay.gateway.ledger.snapshot()
    assert snap["sandbox:1"]["calls"] == 1 and snap["node:4"]["calls"] == 1 and snap["run"]["calls"] == 2


def test_socket_permissions_and_cleanup(server, settings_for, short_dir):
    relay = Relay(Gateway({"task": settings_for(server)}), short_dir / "relay")
    with relay:
        assert stat.S_ISSOCK(relay.socket_path.stat().st_mode)
        assert stat.S_IMODE(relay.socket_path.stat().st_mode) == 0o666
        assert stat.S_IMODE(relay.socket_dir.stat().st_mode) == 0o755
    assert not relay.socket_path.exists()
    with pytest.raises(ModelError, match="longer than"):
        Relay(relay.gateway, Path("/tmp") / ("x" * 120))


def test_bad_tokens_are_refused(relay, server):
    assert RelayClient(relay.socket_path, None).chat(HELLO).status == 401
    reply = RelayClient(relay.socket_path, "not-a-token").chat(HELLO)
    assert reply.status == 401 and reply.body["error"]["message"] == "relay token unknown"
    token = relay.issue_token("sandbox:2")
    client = RelayClient(relay.socket_path, token)
    assert client.chat(HELLO).status == 200
    relay.revoke(token)
    reply = client.chat(HELLO)
    assert reply.status == 401 and reply.body["error"]["message"] == "relay token revoked"
    assert client.usage().status == 401
    assert len(server.requests) == 1


def test_oversized_and_malformed_bodies(relay, server):
    token = relay.issue_token("sandbox:3")
    client = RelayClient(relay.socket_path, token)
    reply = client.request("POST", "/v1/chat/completions", b" " * (relay.max_body_bytes + 1))
    assert reply.status == 413 and "over the relay limit" in reply.body["error"]["message"]
    reply = client.request("POST", "/v1/chat/completions", b"{not json")
    assert reply.status == 400 and "not JSON" in reply.body["error"]["message"]
    assert client.request("POST", "/v1/chat/completions", {"messages": []}).status == 400
    reply = client.request("POST", "/v1/chat/completions", {"messages": ["hello"]})
    assert reply.status == 400 and "messages[0]" in reply.body["error"]["message"]
    assert client.request("POST", "/v1/chat/completions", {"messages": HELLO, "tools": "all"}).status == 400
    assert client.request("POST", "/v1/elsewhere", {"messages": HELLO}).status == 404
    assert server.requests == []


def test_budget_refusals_are_402(relay, server):
    token = relay.issue_token("sandbox:4", budget_usd=0.13)
    client = RelayClient(relay.socket_path, token)
    assert client.chat(HELLO).status == 200  # $0.06
    assert client.chat(HELLO).status == 200  # $0.12: its worst case ($0.068) still fitted
    reply = client.chat(HELLO)
    assert reply.status == 402 and reply.body["error"]["type"] == "budget_exceeded"
    assert "budget of sandbox:4 reached" in reply.body["error"]["message"]
    usage = client.usage().body
    assert usage["account"] == "sandbox:4" and usage["calls"] == 2 and usage["budget_usd"] == 0.13
    assert usage["usd"] == pytest.approx(0.12) and usage["remaining_usd"] == 0.0
    # the run budget ($1.00) stops every token, whatever its own cap
    other = RelayClient(relay.socket_path, relay.issue_token("sandbox:5"))
    statuses = [other.chat(HELLO).status for _ in range(20)]
    assert statuses.count(200) == 14 and set(statuses[14:]) == {402}  # 0.12 + 14 * 0.06 = 0.96
    assert "run budget reached" in other.chat(HELLO).body["error"]["message"]
    assert round(relay.gateway.ledger.usage().usd, 2) == 0.96


def test_provider_failure_is_502_with_the_reason(settings_for, short_dir):
    with ScriptedModelServer({"sequence": [{"fault": "400", "message": "context too long"}]}) as server:
        with Relay(Gateway({"task": settings_for(server)}), short_dir / "relay") as relay:
            reply = RelayClient(relay.socket_path, relay.issue_token("sandbox:6")).chat(HELLO)
    assert reply.status == 502 and reply.body["error"]["type"] == "provider_error"
    assert "context too long" in reply.body["error"]["message"]


def test_per_token_recording(relay, short_dir):
    record = short_dir / "task-a" / "llm_calls.jsonl"
    token = relay.issue_token(["sandbox:7", "node:2"], record_path=record)
    client = RelayClient(relay.socket_path, token)
    client.chat(HELLO)
    client.chat(HELLO + [{"role": "assistant", "content": "x"}, {"role": "user", "content": "again"}])
    RelayClient(relay.socket_path, relay.issue_token("sandbox:8")).chat(HELLO)
    rows = read(record)
    assert [r["accounts"] for r in rows] == [["sandbox:7", "node:2"]] * 2
    assert [r["call_id"] for r in rows] == [r["call_id"] for r in read(relay.gateway.record_path)[:2]]
    assert rows[1]["request"]["messages"][-1]["content"] == "again"
    assert relay.gateway.ledger.usage("node:2").calls == 2


def test_slow_calls_are_served_concurrently(settings_for, short_dir):
    # The model blocks the first request until the second arrives: a relay that served one
    # request at a time would never let the second through, and the first would fail.
    both_arrived = threading.Barrier(2, timeout=20)
    order: list[str] = []
    lock = threading.Lock()

    def respond(request: dict) -> dict:
        name = request["messages"][-1]["content"]
        with lock:
            order.append(f"arrived {name}")
        both_arrived.wait()
        with lock:
            order.append(f"answered {name}")
        return {"content": f"answer to {name}"}

    with ScriptedModelServer(respond) as server:
        with Relay(Gateway({"task": settings_for(server, max_retries=0, timeout=30)}), short_dir / "relay") as relay:
            results: dict[str, object] = {}

            def call(name: str) -> None:
                client = RelayClient(relay.socket_path, relay.issue_token(f"sandbox:{name}"))
                results[name] = client.chat([{"role": "user", "content": name}])

            threads = [threading.Thread(target=call, args=(n,)) for n in ("a", "b")]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    assert {n: r.status for n, r in results.items()} == {"a": 200, "b": 200}
    assert results["a"].body["choices"][0]["message"]["content"] == "answer to a"
    assert sorted(order[:2]) == ["arrived a", "arrived b"]  # both in flight before either answered


def test_a_key_echoed_by_the_provider_does_not_reach_the_sandbox(settings_for, short_dir, monkeypatch):
    secret = "sk-test-echoed-0123456789abcdef"
    monkeypatch.setenv("DGM_TEST_ECHO_KEY", secret)
    script = {"sequence": [{"fault": "401", "message": f"Incorrect API key provided: {secret}"}]}
    with ScriptedModelServer(script) as server:
        gateway = Gateway({"task": settings_for(server, api_key_env="DGM_TEST_ECHO_KEY")},
                          record_path=short_dir / "calls.jsonl")
        with Relay(gateway, short_dir / "relay") as relay:
            reply = RelayClient(relay.socket_path, relay.issue_token("sandbox:9")).chat(HELLO)
    assert server.headers[0]["authorization"] == f"Bearer {secret}"
    assert reply.status == 502 and "Incorrect API key provided: ***" in reply.body["error"]["message"]
    assert secret not in (short_dir / "calls.jsonl").read_text()


def test_streaming_is_refused_clearly(relay):
    reply = RelayClient(relay.socket_path, relay.issue_token("sandbox:10")).chat(HELLO, stream=True)
    assert reply.status == 400 and "streaming is not supported" in reply.body["error"]["message"]


def test_open_connections_are_capped(server, settings_for, short_dir):
    with Relay(Gateway({"task": settings_for(server)}), short_dir / "relay", max_connections=2) as relay:
        client = RelayClient(relay.socket_path, relay.issue_token("sandbox:11"))
        idle = []
        for _ in range(2):  # connections that never send a request hold their slots
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(relay.socket_path))
            idle.append(sock)
        reply = client.chat(HELLO)
        assert reply.status == 503 and "too many open connections" in reply.body["error"]["message"]
        for sock in idle:
            sock.close()
        statuses = []
        for _ in range(50):  # the slots come back as the idle handlers see the close
            statuses.append(client.chat(HELLO).status)
            if statuses[-1] == 200:
                break
            threading.Event().wait(0.05)
        assert statuses[-1] == 200, statuses
