"""The scripted OpenAI-compatible server, spoken to with plain http.client (no litellm)."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from dgm.errors import BadInput
from dgm.llm import Script, ScriptedModelServer


def post(server: ScriptedModelServer, body: dict | bytes) -> tuple[int, dict | bytes, dict]:
    url = urlparse(server.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn.request("POST", "/v1/chat/completions", body=data, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    raw = response.read()
    headers = dict(response.getheaders())
    conn.close()
    try:
        return response.status, json.loads(raw), headers
    except json.JSONDecodeError:
        return response.status, raw, headers


def convo(text: str, turns: int = 0) -> dict:
    messages = [{"role": "system", "content": "sys"}, {"role": "user", "content": text}]
    for i in range(turns):
        messages += [{"role": "assistant", "content": f"a{i}"}, {"role": "user", "content": f"u{i}"}]
    return {"model": "scripted", "messages": messages}


RULES = [
    {"match": "weather", "replies": [{"content": "sunny"}, {"content": "rainy"}]},
    {"match": None, "replies": [{"content": "default"}]},
]


def test_rules_pick_by_content_and_turn_and_repeat_the_last_reply():
    with ScriptedModelServer(RULES) as server:
        assert post(server, convo("what weather?"))[1]["choices"][0]["message"]["content"] == "sunny"
        assert post(server, convo("what weather?", turns=1))[1]["choices"][0]["message"]["content"] == "rainy"
        assert post(server, convo("what weather?", turns=5))[1]["choices"][0]["message"]["content"] == "rainy"
        assert post(server, convo("something else"))[1]["choices"][0]["message"]["content"] == "default"
        assert len(server.requests) == 4
        assert server.requests[0]["messages"][1]["content"] == "what weather?"


def test_reply_is_a_chat_completion_with_tool_calls_and_usage():
    reply = {"content": None, "tool_calls": [{"name": "bash", "arguments": {"cmd": "ls"}}],
             "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
    script = [{"match": None, "replies": [reply]}]
    with ScriptedModelServer(script) as server:
        status, body, _ = post(server, convo("go"))
    assert status == 200 and body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"]["name"] == "bash" and json.loads(call["function"]["arguments"]) == {"cmd": "ls"}
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def test_default_usage_is_deterministic():
    with ScriptedModelServer([{"match": None, "replies": [{"content": "x" * 40}]}]) as server:
        first = post(server, convo("y" * 400))[1]["usage"]
        second = post(server, convo("y" * 400))[1]["usage"]
    assert first == second and first["completion_tokens"] == 10 and first["prompt_tokens"] > 100


def test_sequence_is_consumed_in_call_order_and_faults_are_served():
    script = {"sequence": [{"fault": "429", "retry_after": 3}, {"fault": "500"}, {"fault": "malformed"},
                           {"fault": "400", "message": "bad thing"}, {"content": "ok"}]}
    with ScriptedModelServer(script) as server:
        status, body, headers = post(server, convo("a"))
        assert status == 429 and headers["Retry-After"] == "3"
        assert post(server, convo("a"))[0] == 500
        status, body, _ = post(server, convo("a"))
        assert status == 200 and isinstance(body, bytes)  # not JSON
        status, body, _ = post(server, convo("a"))
        assert status == 400 and body["error"]["message"] == "bad thing"
        assert post(server, convo("a"))[1]["choices"][0]["message"]["content"] == "ok"
        assert post(server, convo("a"))[1]["choices"][0]["message"]["content"] == "ok"  # the last repeats


def test_drop_closes_without_a_response():
    with ScriptedModelServer({"sequence": [{"fault": "drop"}]}) as server:
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            post(server, convo("a"))


def test_callable_script_and_models_listing():
    seen = []

    def respond(request: dict) -> dict:
        seen.append(request["messages"][-1]["content"])
        return {"content": f"echo {seen[-1]}"}

    with ScriptedModelServer(respond) as server:
        assert post(server, convo("ping"))[1]["choices"][0]["message"]["content"] == "echo ping"
        url = urlparse(server.url)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
        conn.request("GET", "/v1/models")
        assert json.loads(conn.getresponse().read())["data"][0]["id"] == "scripted"
    assert seen == ["ping"]


def test_unmatched_conversation_is_a_400():
    with ScriptedModelServer([{"match": "only this", "replies": [{"content": "x"}]}]) as server:
        status, body, _ = post(server, convo("other"))
    assert status == 400 and "no scripted reply" in body["error"]["message"]


def test_script_file_and_bad_scripts(tmp_path: Path):
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"rules": RULES}))
    with ScriptedModelServer.from_file(path) as server:
        assert post(server, convo("weather"))[1]["choices"][0]["message"]["content"] == "sunny"
    with pytest.raises(BadInput):
        Script.from_data([{"match": "x", "replies": []}])
    with pytest.raises(BadInput):
        Script.from_data({"neither": 1})
    path.write_text("{nope")
    with pytest.raises(BadInput, match="script"):
        Script.load(path)


def test_replay_from_recording_serves_one_accounts_responses_in_order(tmp_path: Path):
    path = tmp_path / "llm_calls.jsonl"
    def row(account: str, text: str | None) -> dict:
        response = {"id": text, "choices": [{"message": {"content": text}}]} if text else None
        return {"account": account, "accounts": [account], "response": response, "error": None if text else "boom"}

    rows = [row("sandbox:a", "A1"), row("sandbox:b", "B1"), row("sandbox:a", None), row("sandbox:a", "A2")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn')
    with ScriptedModelServer.from_recording(path, account="sandbox:a") as server:
        got = [post(server, convo("x"))[1]["choices"][0]["message"]["content"] for _ in range(3)]
    assert got == ["A1", "A2", "A2"]
    with pytest.raises(BadInput):
        ScriptedModelServer.from_recording(path, account="sandbox:zzz")


def test_importing_the_package_does_not_import_litellm():
    code = ("import sys, dgm.llm, dgm.llm.relay, dgm.llm.scripted, dgm.llm.gateway; "
            "from dgm.llm import Gateway, Relay, ModelSettings, ScriptedModelServer, Ledger; "
            "assert 'litellm' not in sys.modules, 'litellm imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
