"""Diagnosis over the real gateway (litellm over HTTP to a scripted model): checked JSON, bounded re-asks."""

from __future__ import annotations

import json
from pathlib import Path

from dgm.evolve.diagnose import FIELDS, MARKER, build_messages, run_diagnosis, validate
from dgm.evolve.items import DiagnoseItem
from dgm.llm.gateway import Gateway
from dgm.llm.scripted import ScriptedModelServer
from dgm.llm.settings import ModelSettings

SEED = Path(__file__).resolve().parents[2] / "agents_archive" / "seed"
GOOD = json.dumps({f: f"the {f}" for f in FIELDS})


def gateway(server: ScriptedModelServer, tmp_path: Path) -> Gateway:
    settings = ModelSettings(model="openai/scripted", api_base=server.url, tokens_only=True, max_retries=0)
    return Gateway({"diagnose": settings}, run_dir=tmp_path)


def item(retries: int) -> DiagnoseItem:
    return DiagnoseItem("1.1", "0", [{"role": "system", "content": MARKER}, {"role": "user", "content": "go"}],
                        retries, "slot:1.1")


def test_validate_accepts_bare_or_fenced_json_and_names_what_is_missing() -> None:
    assert validate(GOOD)[0]["improvement"] == "the improvement"
    assert validate(f"Here it is:\n```json\n{GOOD}\n```")[0] is not None
    bad, why = validate(json.dumps({"observations": "x"}))
    assert bad is None and "problem_statement" in why
    assert validate("no json here")[0] is None
    assert validate('{"observations": 1}')[0] is None


def test_a_malformed_answer_is_re_asked_with_the_reason(tmp_path: Path) -> None:
    rules = [{"match": MARKER, "replies": [{"content": "{broken"}, {"content": GOOD}]}]
    with ScriptedModelServer(rules) as server:
        out = run_diagnosis(item(retries=2), gateway(server, tmp_path))
        second = server.requests[1]["messages"]
    assert out.diagnosis is not None and out.attempts == 2 and out.error is None
    assert "invalid JSON" in second[-1]["content"] and second[-2]["content"] == "{broken"
    assert out.usage["calls"] == 2 and out.usage["tokens_in"] > 0


def test_retries_are_bounded(tmp_path: Path) -> None:
    rules = [{"match": MARKER, "replies": [{"content": "not json"}]}]
    with ScriptedModelServer(rules) as server:
        out = run_diagnosis(item(retries=1), gateway(server, tmp_path))
        assert len(server.requests) == 2
    assert out.diagnosis is None and "malformed diagnosis after 2 answers" in out.error


def test_the_prompt_holds_the_code_and_the_failed_tasks(tmp_path: Path) -> None:
    task_dir = tmp_path / "artifacts" / "tasks" / "t-1"
    task_dir.mkdir(parents=True)
    (task_dir / "eval.log").write_text("FAILED tests/test_x.py::test_y - AssertionError")
    (task_dir / "patch.diff").write_text("")
    (task_dir / "trajectory.json").write_text(json.dumps({"messages": [
        {"role": "assistant", "content": "looking", "tool_calls": [
            {"function": {"name": "bash", "arguments": "{\"command\": \"ls\"}"}}]}]}))
    results = {"t-1": {"resolved": False, "empty_patch": True, "status": "limit"},
               "t-2": {"resolved": True, "empty_patch": False}}
    messages = build_messages(SEED, tmp_path / "artifacts", results, {"t-1": "the widget breaks"},
                              iteration=3, slot=2, slots=2, parent_id="5")
    text = messages[1]["content"]
    assert "iteration 3, proposal 2 of 2 for parent node 5" in text
    assert "coder/loop.py" in text and "def step" in text           # the code
    assert "Failed task t-1: empty patch" in text and "the widget breaks" in text
    assert "AssertionError" in text and "bash(" in text               # eval log and trajectory
    assert "Failed task t-2" not in text                              # resolved tasks are not failures
    assert "resolved: t-2\nfailed: t-1" in text                       # the ids predictions may name
