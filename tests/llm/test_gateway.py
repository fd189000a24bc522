"""Gateway over real HTTP through real litellm to a scripted server: replies, tools, faults, retries."""

from __future__ import annotations

import json
import threading
import time

import pytest

from dgm.errors import ModelError
from dgm.llm import Gateway, ModelSettings, ScriptedModelServer
from dgm.llm.retry import backoff_seconds

TOOLS = [{"type": "function", "function": {
    "name": "bash", "description": "run a shell command",
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}}}]


def user(text: str) -> list[dict]:
    return [{"role": "system", "content": "You are a test."}, {"role": "user", "content": text}]


def content(response: dict) -> str | None:
    return response["choices"][0]["message"]["content"]


def test_plain_reply_returns_an_openai_dict(settings_for):
    reply = {"content": "hello there", "usage": {"prompt_tokens": 12, "completion_tokens": 3}}
    with ScriptedModelServer([{"match": None, "replies": [reply]}]) as server:
        gateway = Gateway({"task": settings_for(server)})
        response = gateway.complete("task", user("hi"), temperature=0.0, max_tokens=50)
        assert server.requests[0]["model"] == "scripted"
        assert server.requests[0]["temperature"] == 0.0 and server.requests[0]["max_tokens"] == 50
    assert content(response) == "hello there"
    assert response["object"] == "chat.completion"
    assert response["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    json.dumps(response)  # plain data, nothing litellm-typed


def test_tool_calls_round_trip(settings_for):
    script = [{"match": "list files", "replies": [
        {"content": None, "tool_calls": [{"name": "bash", "arguments": {"cmd": "ls -la"}}]},
        {"content": "there are two files"},
    ]}]
    with ScriptedModelServer(script) as server:
        gateway = Gateway({"task": settings_for(server)})
        messages = user("list files please")
        first = gateway.complete("task", messages, tools=TOOLS, tool_choice="auto")
        message = first["choices"][0]["message"]
        call = message["tool_calls"][0]
        assert first["choices"][0]["finish_reason"] == "tool_calls"
        assert call["function"]["name"] == "bash" and json.loads(call["function"]["arguments"]) == {"cmd": "ls -la"}
        messages += [message, {"role": "tool", "tool_call_id": call["id"], "content": "a.py\nb.py"}]
        second = gateway.complete("task", messages, tools=TOOLS)
        assert content(second) == "there are two files"
        assert server.requests[0]["tools"] == TOOLS and server.requests[0]["tool_choice"] == "auto"
        sent = server.requests[1]["messages"]
        assert sent[2]["tool_calls"][0]["id"] == call["id"] and sent[3]["tool_call_id"] == call["id"]


def test_rate_limit_honours_retry_after_then_succeeds(settings_for):
    arrivals: list[float] = []
    replies = iter([{"fault": "429", "retry_after": 1}, {"content": "after the wait"}])

    def respond(request: dict) -> dict:
        arrivals.append(time.monotonic())
        return next(replies)

    with ScriptedModelServer(respond) as server:
        # backoff alone would wait ~10 ms; only Retry-After makes the gap a second
        gateway = Gateway({"task": settings_for(server, retry_base_seconds=0.01, retry_max_seconds=5)})
        assert content(gateway.complete("task", user("x"))) == "after the wait"
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] >= 0.9


def test_retry_after_is_capped_and_backoff_is_jittered_exponential():
    class Limited(Exception):
        status_code = 429
        litellm_response_headers = {"retry-after": "3600"}

    assert backoff_seconds(1, Limited(), base=1.0, cap=2.0) == 2.0
    waits = [backoff_seconds(4, RuntimeError(), base=1.0, cap=30.0) for _ in range(200)]
    assert all(0 <= w <= 8.0 for w in waits) and len(set(waits)) > 100
    assert max(waits) > 4.0  # the range grows with the attempt number


@pytest.mark.parametrize("fault", [{"fault": "500"}, {"fault": "malformed"}, {"fault": "drop"},
                                   {"fault": "503"}, {"fault": "hang", "seconds": 30}])
def test_transient_faults_are_retried(settings_for, fault):
    script = {"sequence": [fault, {"content": "recovered", "usage": {"prompt_tokens": 5, "completion_tokens": 2}}]}
    with ScriptedModelServer(script) as server:
        gateway = Gateway({"task": settings_for(server, timeout=1.0)})
        response = gateway.complete("task", user("x"), account="sandbox:1")
        assert content(response) == "recovered"
        assert len(server.requests) == 2  # exactly one retry: litellm's own retries are off
    usage = gateway.ledger.usage("sandbox:1")
    assert (usage.calls, usage.errors, usage.prompt_tokens, usage.completion_tokens) == (1, 0, 5, 2)


def test_persistent_failure_gives_up_after_bounded_attempts(settings_for):
    with ScriptedModelServer({"sequence": [{"fault": "500"}]}) as server:
        gateway = Gateway({"task": settings_for(server, max_retries=2)})
        with pytest.raises(ModelError, match=r"openai/scripted failed after 3 attempt\(s\).*HTTP 500"):
            gateway.complete("task", user("x"))
        assert len(server.requests) == 3
    assert gateway.ledger.usage().errors == 1


def test_hang_past_the_timeout_gives_up(settings_for):
    with ScriptedModelServer({"sequence": [{"fault": "hang", "seconds": 30}]}) as server:
        gateway = Gateway({"task": settings_for(server, timeout=0.5, max_retries=1)})
        with pytest.raises(ModelError, match="Timeout"):
            gateway.complete("task", user("x"))
        assert len(server.requests) == 2


@pytest.mark.parametrize("status,kind", [("400", "BadRequestError"), ("401", "AuthenticationError"),
                                         ("404", "NotFoundError")])
def test_client_errors_are_not_retried(settings_for, status, kind):
    script = {"sequence": [{"fault": status, "message": "your request is wrong"}, {"content": "never served"}]}
    with ScriptedModelServer(script) as server:
        gateway = Gateway({"task": settings_for(server)})
        with pytest.raises(ModelError) as info:
            gateway.complete("task", user("x"))
        assert len(server.requests) == 1
    text = str(info.value)
    assert "openai/scripted refused the request" in text and kind in text and "your request is wrong" in text


def test_key_is_read_from_the_named_host_variable(settings_for, monkeypatch):
    monkeypatch.setenv("DGM_TEST_PROVIDER_KEY", "sk-test-from-host-env")
    with ScriptedModelServer([{"match": None, "replies": [{"content": "ok"}]}]) as server:
        gateway = Gateway({"task": settings_for(server, api_key_env="DGM_TEST_PROVIDER_KEY")})
        gateway.complete("task", user("x"))
        assert server.headers[0]["authorization"] == "Bearer sk-test-from-host-env"
        monkeypatch.delenv("DGM_TEST_PROVIDER_KEY")
        with pytest.raises(ModelError, match="DGM_TEST_PROVIDER_KEY is not set") as info:
            gateway.complete("task", user("x"))
        assert info.value.exit_code == 2 and len(server.requests) == 1
        with pytest.raises(ModelError, match="DGM_TEST_PROVIDER_KEY is not set"):
            Gateway({"task": settings_for(server, api_key_env="DGM_TEST_PROVIDER_KEY")})


def test_roles_use_their_own_models_and_unknown_roles_fail(settings_for):
    with ScriptedModelServer([{"match": None, "replies": [{"content": "ok"}]}]) as server:
        gateway = Gateway({"diagnosis": settings_for(server, model="openai/diag-model"),
                           "task": settings_for(server, model="openai/task-model")})
        gateway.complete("diagnosis", user("x"))
        gateway.complete("task", user("x"))
        assert [r["model"] for r in server.requests] == ["diag-model", "task-model"]
        with pytest.raises(ModelError, match="no model configured for role 'selfmod'"):
            gateway.complete("selfmod", user("x"))


def test_concurrent_calls_are_accounted_exactly(settings_for):
    reply = {"content": "ok", "usage": {"prompt_tokens": 1000, "completion_tokens": 100}}
    with ScriptedModelServer([{"match": None, "replies": [reply]}]) as server:
        gateway = Gateway({"task": settings_for(server)})
        threads = [threading.Thread(target=gateway.complete, args=("task", user(f"q{i}")),
                                    kwargs={"account": [f"sandbox:{i % 2}", "node:7"]}) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    snap = gateway.ledger.snapshot()
    assert snap["run"]["calls"] == 8 and snap["node:7"]["calls"] == 8
    assert snap["sandbox:0"]["calls"] == 4 and snap["sandbox:1"]["prompt_tokens"] == 4000
    assert snap["run"]["prompt_tokens"] == 8000 and snap["run"]["completion_tokens"] == 800
    # $1/Mtok in, $2/Mtok out: 8 * (1000 * 1e-6 + 100 * 2e-6) = $0.0096
    assert snap["run"]["usd"] == pytest.approx(0.0096, abs=1e-12)
    assert snap["sandbox:0"]["usd"] == pytest.approx(0.0048, abs=1e-12)


def test_settings_validation():
    with pytest.raises(ModelError, match="both price"):
        ModelSettings(model="openai/x", price_in_per_mtok=1.0)
    with pytest.raises(ModelError, match="unknown model setting"):
        ModelSettings.from_dict({"model": "openai/x", "api_key": "sk-oops"})
    assert ModelSettings.from_dict({"model": "openai/x", "tokens_only": True}).tokens_only
