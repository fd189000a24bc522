"""Frozen prices, dollar budgets, resumed ledgers and the JSONL recording."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dgm.errors import BudgetExceeded, ModelError
from dgm.llm import Gateway, ModelSettings, ScriptedModelServer
from dgm.llm.recording import read


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


# 1000 prompt tokens at $30/Mtok + 500 completion tokens at $60/Mtok = $0.06 per call
PRICED_REPLY = {"content": "ok", "usage": {"prompt_tokens": 1000, "completion_tokens": 500}}


def priced(settings_for, server, **kw) -> ModelSettings:
    kw.setdefault("max_tokens", 500)  # the output ceiling: each call reserves about $0.061 and costs $0.06
    return settings_for(server, price_in_per_mtok=30.0, price_out_per_mtok=60.0, **kw)


def test_run_budget_stops_at_the_cap_to_the_cent(settings_for, tmp_path: Path):
    with ScriptedModelServer([{"match": None, "replies": [PRICED_REPLY]}]) as server:
        gateway = Gateway({"task": priced(settings_for, server)}, run_dir=tmp_path, budget_usd=0.25)
        done = 0
        with pytest.raises(BudgetExceeded, match=r"run budget reached: spent \$0\.2400 of \$0\.2500, and this "
                                                 r"call may cost up to \$0\.06"):
            for _ in range(10):
                gateway.complete("task", user("x"))
                done += 1
        # each call reserves its worst case before it goes out: a fifth would not fit under the cap
        assert done == 4 and len(server.requests) == 4
    assert round(gateway.ledger.usage().usd, 2) == 0.24 and gateway.ledger.remaining() == 0.0
    assert sum(e["cost_usd"] for e in read(tmp_path / "llm_calls.jsonl")) == pytest.approx(0.24, abs=1e-9)


def test_account_cap_refuses_only_that_account(settings_for):
    with ScriptedModelServer([{"match": None, "replies": [PRICED_REPLY]}]) as server:
        gateway = Gateway({"task": priced(settings_for, server)})
        gateway.ledger.set_cap("sandbox:a", 0.13)
        gateway.complete("task", user("x"), account="sandbox:a")
        gateway.complete("task", user("x"), account="sandbox:a")  # 0.06 + up to 0.061 fits under 0.13
        with pytest.raises(BudgetExceeded, match="budget of sandbox:a reached"):
            gateway.complete("task", user("x"), account="sandbox:a")  # 0.12 + 0.061 does not
        gateway.complete("task", user("x"), account="sandbox:b")
        assert len(server.requests) == 3
    assert gateway.ledger.remaining("sandbox:a") == 0.0
    assert gateway.ledger.usage("sandbox:b").usd == pytest.approx(0.06)


def test_prices_are_frozen_and_reused_on_resume(settings_for, tmp_path: Path):
    with ScriptedModelServer([{"match": None, "replies": [PRICED_REPLY]}]) as server:
        first = Gateway({"task": priced(settings_for, server)}, run_dir=tmp_path)
        first.complete("task", user("x"))
        frozen = json.loads((tmp_path / "prices.json").read_text())
        assert frozen["models"]["openai/scripted"] == {"input_per_token": 3e-05, "output_per_token": 6e-05,
                                                       "source": "override"}
        # the resumed run is configured with other prices: the frozen table wins
        resumed = Gateway({"task": settings_for(server, price_in_per_mtok=1000.0, price_out_per_mtok=1000.0)},
                          run_dir=tmp_path, budget_usd=0.13)
        assert resumed.ledger.usage().usd == pytest.approx(0.06)  # restored from the recording
        resumed.complete("task", user("x"), max_tokens=500)
        assert resumed.ledger.usage().usd == pytest.approx(0.12)
        with pytest.raises(BudgetExceeded):
            resumed.complete("task", user("x"))
    assert json.loads((tmp_path / "prices.json").read_text())["models"] == frozen["models"]


def test_litellm_prices_unknown_models_and_tokens_only(tmp_path: Path):
    import litellm

    known = Gateway({"task": ModelSettings(model="openai/gpt-4o-mini")}, run_dir=tmp_path)
    price = known.prices["openai/gpt-4o-mini"]
    assert price.source == "litellm"
    assert price.input_per_token == litellm.model_cost["gpt-4o-mini"]["input_cost_per_token"]
    with pytest.raises(ModelError, match="no known price.*price_in_per_mtok.*tokens_only") as info:
        Gateway({"task": ModelSettings(model="openai/no-such-model-anywhere")})
    assert info.value.exit_code == 2
    free = Gateway({"task": ModelSettings(model="hosted_vllm/my-local", api_base="http://127.0.0.1:1/v1",
                                          tokens_only=True)})
    assert free.prices["hosted_vllm/my-local"].cost(10**6, 10**6) == 0.0


def test_tokens_only_counts_tokens_at_zero_cost(settings_for):
    with ScriptedModelServer([{"match": None, "replies": [PRICED_REPLY]}]) as server:
        gateway = Gateway({"task": settings_for(server, model="openai/unpriced-local", price_in_per_mtok=None,
                                                price_out_per_mtok=None, tokens_only=True)}, budget_usd=0.01)
        for _ in range(3):
            gateway.complete("task", user("x"))
    usage = gateway.ledger.usage()
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens, usage.usd) == (3, 3000, 1500, 0.0)


def test_recording_holds_every_exchange(settings_for, tmp_path: Path):
    extra = tmp_path / "task" / "llm_calls.jsonl"
    script = {"sequence": [PRICED_REPLY, {"fault": "400", "message": "nope"}, {"content": "third"}]}
    with ScriptedModelServer(script) as server:
        gateway = Gateway({"task": priced(settings_for, server)}, run_dir=tmp_path)
        gateway.complete("task", user("first"), account=["sandbox:s1", "node:3"], record_to=extra,
                         tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
        with pytest.raises(ModelError):
            gateway.complete("task", user("second"), account="sandbox:s1")
        gateway.complete("task", user("third"), account="node:3")
    rows = read(tmp_path / "llm_calls.jsonl")
    assert len(rows) == 3
    first, second, third = rows
    assert first["role"] == "task" and first["model"] == "openai/scripted"
    assert first["account"] == "sandbox:s1" and first["accounts"] == ["sandbox:s1", "node:3"]
    # the body is recorded once: in the caller's own file; the run's line names it and keeps the rest
    (own,) = read(extra)
    assert own["request"]["messages"] == user("first")
    assert own["request"]["tools"][0]["function"]["name"] == "f"
    assert "messages" not in first["request"] and "tools" not in first["request"]
    assert first["request"]["recorded_in"] == str(extra) and first["request"]["params"] == own["request"]["params"]
    assert first["call_id"] == own["call_id"] and first["response"] == own["response"]
    assert first["response"]["choices"][0]["message"]["content"] == "ok"
    assert first["usage"] == {"prompt_tokens": 1000, "completion_tokens": 500}
    assert first["cost_usd"] == pytest.approx(0.06) and first["latency_s"] > 0 and first["attempts"] == 1
    assert first["error"] is None and first["ts"].endswith("+00:00")
    assert second["request"]["messages"] == user("second")  # no file of its own: the body is in the run's
    assert second["response"] is None and "nope" in second["error"] and second["cost_usd"] == 0
    assert third["response"]["choices"][0]["message"]["content"] == "third"


def test_replaying_a_recording_reproduces_the_responses_without_the_model(settings_for, tmp_path: Path):
    script = [{"match": None, "replies": [{"content": "step one"}, {"content": None, "tool_calls": [
        {"name": "bash", "arguments": {"cmd": "pytest"}}]}, {"content": "done"}]}]
    conversation = user("fix it")
    with ScriptedModelServer(script) as live:
        gateway = Gateway({"task": settings_for(live)}, run_dir=tmp_path / "live")
        originals = []
        for _ in range(3):
            response = gateway.complete("task", conversation, account="sandbox:r")
            originals.append(response)
            conversation = conversation + [response["choices"][0]["message"], {"role": "user", "content": "go on"}]
    with ScriptedModelServer.from_recording(tmp_path / "live" / "llm_calls.jsonl", account="sandbox:r") as replay:
        gateway = Gateway({"task": settings_for(replay)})
        replayed = [gateway.complete("task", user("anything")) for _ in range(3)]
    strip = lambda r: {k: v for k, v in r.items() if k != "created"}  # noqa: E731
    assert [strip(r) for r in replayed] == [strip(r) for r in originals]


def test_missing_usage_is_estimated_not_zero(settings_for, tmp_path: Path):
    raw = {"id": "x", "object": "chat.completion", "created": 0, "model": "m",
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "word " * 40},
                        "finish_reason": "stop"}]}
    with ScriptedModelServer({"sequence": [{"raw": raw}]}) as server:
        gateway = Gateway({"task": priced(settings_for, server)}, run_dir=tmp_path)
        response = gateway.complete("task", user("count " * 100))
    usage = gateway.ledger.usage()
    assert usage.prompt_tokens >= 100 and usage.completion_tokens >= 40 and usage.usd > 0
    assert response["usage"]["estimated"] is True
    row = read(tmp_path / "llm_calls.jsonl")[0]
    assert row["usage"]["estimated"] is True and row["usage"]["prompt_tokens"] == usage.prompt_tokens


def test_a_call_refused_by_the_run_budget_marks_its_account_cut_not_failed():
    from dgm.llm.ledger import Ledger

    ledger = Ledger(budget_usd=1.0)
    ledger.set_cap("node:1:task", 5.0)
    ledger.set_cap("node:2:task", 0.1)
    ledger.settle(ledger.reserve(["node:0:task"], usd=0.5), usd=0.5)
    # a big call that does not fit the run's last $0.50, though a small one would
    with pytest.raises(BudgetExceeded):
        ledger.reserve(["node:1:task"], usd=0.6, floor_usd=0.01)
    assert ledger.remaining() > 0  # the run goes on...
    assert ledger.cut_by_run_budget("node:1:task")  # ...but that agent was stopped by it, not by itself
    # an account that hits its own cap was not cut by the run
    with pytest.raises(BudgetExceeded):
        ledger.reserve(["node:2:task"], usd=0.2, floor_usd=0.01)
    assert not ledger.cut_by_run_budget("node:2:task")
