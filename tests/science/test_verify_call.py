"""The per-task-run verification call: litellm over HTTP to a loopback scripted model, counted in the
ledger under its own account; and what an answer may say (data, parsed and clamped)."""

from __future__ import annotations

import json

import pytest

from dgm.evolve.diagnose import validate
from dgm.llm import Gateway, ModelSettings, ScriptedModelServer
from dgm.science.verify import ANSWER_TOKENS, MARKER, MAX_ISSUE_CHARS, compact, parse_probability, verify_patch

PATCH = "--- a/calc.py\n+++ b/calc.py\n@@ -1 +1 @@\n-    return a // b\n+    return a / b\n"


def settings(server: ScriptedModelServer) -> ModelSettings:
    return ModelSettings(model="openai/scripted", api_base=server.url, price_in_per_mtok=1.0,
                         price_out_per_mtok=2.0, timeout=5.0, max_retries=1, retry_base_seconds=0.01)


def test_the_call_goes_through_the_gateway_and_is_counted() -> None:
    seen: list[dict] = []

    def reply(request: dict) -> dict:
        seen.append(request)
        return {"content": 'Looks right. {"p_resolved": 0.85}'}

    with ScriptedModelServer(reply) as server:
        gateway = Gateway({"task": settings(server)}, budget_usd=1.0)
        record = verify_patch(gateway, "calc-1", "divide() truncates", PATCH, account="node:3:task:calc-1:verify")
    assert record["p"] == 0.85 and record["error"] is None
    assert record["tokens_in"] > 0 and record["tokens_out"] > 0 and record["cost_usd"] > 0
    usage = gateway.ledger.usage("node:3:task:calc-1:verify")
    assert usage.prompt_tokens == record["tokens_in"] and usage.usd == pytest.approx(record["cost_usd"])
    text = json.dumps(seen[0]["messages"])
    assert MARKER in text and "divide() truncates" in text and "return a / b" in text
    assert seen[0]["max_tokens"] == ANSWER_TOKENS   # the answer is one number: the call reserves no more


def test_the_prompt_is_cut_to_what_a_reader_needs() -> None:
    seen: list[dict] = []
    patch = ("diff --git a/calc.py b/calc.py\nindex 1111111..2222222 100644\n--- a/calc.py\n+++ b/calc.py\n"
             "@@ -1,7 +1,7 @@\n def a():\n     pass\n \n def divide(a, b):\n-    return a // b\n+    return a / b\n"
             " \n def z():\n")
    assert compact(patch) == ("+++ b/calc.py\n@@\n def divide(a, b):\n-    return a // b\n+    return a / b\n \n")
    created = "diff --git a/n.txt b/n.txt\nnew file mode 100644\n--- /dev/null\n+++ b/n.txt\n@@ -0,0 +1 @@ x\n+hi\n"
    assert compact(created) == "--- /dev/null\n+++ b/n.txt\n@@ x\n+hi\n"
    with ScriptedModelServer(lambda r: seen.append(r) or {"content": "0.5"}) as server:
        gateway = Gateway({"task": settings(server)}, budget_usd=1.0)
        verify_patch(gateway, "calc-1", "x" * 50_000, patch, account="a:verify")
    user = seen[0]["messages"][1]["content"]
    assert "index 1111111" not in user and "def z()" not in user and "return a / b" in user
    assert len(user) < MAX_ISSUE_CHARS + 400   # a 50,000-character issue keeps its head and tail


def test_a_refused_call_is_recorded_not_raised() -> None:
    with ScriptedModelServer(lambda r: {"content": "0.5"}) as server:
        gateway = Gateway({"task": settings(server)}, budget_usd=0.0000001)
        record = verify_patch(gateway, "calc-1", "issue", PATCH, account="a:verify")
    assert record["p"] is None and record["error"].startswith("over budget")


@pytest.mark.parametrize("text, p", [
    ('{"p_resolved": 0.3}', 0.3), ("```json\n{\"p_resolved\": 1}\n```", 1.0), ("I'd say 0.7", 0.7),
    ("80%", 0.8), ('{"p_resolved": 70}', 0.7), ('{"p_resolved": true}', None), ("no idea", None),
    ('{"p_resolved": -0.2}', None), ("250", None), ("", None), (None, None)])
def test_parse_probability(text: str | None, p: float | None) -> None:
    assert parse_probability(text) == p


def test_the_diagnosis_carries_its_predictions_as_id_lists() -> None:
    base = {"observations": "o", "improvement": "i", "implementation_plan": "p", "problem_statement": "s"}
    got, _ = validate(json.dumps({**base, "expected_fix": ["t-1", 7, "t-2"], "may_break": "t-3"}))
    assert got["expected_fix"] == ["t-1", "t-2"] and got["may_break"] == []
    got, _ = validate(json.dumps(base))
    assert got["expected_fix"] == [] and got["may_break"] == []
