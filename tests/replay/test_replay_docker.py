"""`dgm replay` for real: the seed agent in a sandbox on a toy task, streamed and graded; then the same run
replayed from its recorded model calls, with no model behind it, to the identical patch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dgm.cli import main

ROOT = Path(__file__).resolve().parents[2]
TOY = ROOT / "datasets" / "toy" / "toy.jsonl"
IID = "dgm-toy__calc-1"

LOOK = {"content": "Let me look at the code first.",
        "tool_calls": [{"name": "bash", "arguments": {"command": "cat calc/arith.py"}}]}
SUBMIT = {"content": "Done.", "tool_calls": [{"name": "submit", "arguments": {"summary": "division fixed"}}]}


def edit(new: str) -> dict:
    return {"content": "The division truncates; fix the operator.",
            "tool_calls": [{"name": "editor", "arguments": {"command": "str_replace", "path": "calc/arith.py",
                                                             "old_str": "    return a // b", "new_str": new}}]}


def script(path: Path, new: str) -> Path:
    path.write_text(json.dumps({"rules": [{"match": "divide() truncates", "replies": [LOOK, edit(new), SUBMIT]}]}))
    return path


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from dgm.bench import BenchStore, build_instance, load_instances

    store = BenchStore(tmp_path_factory.mktemp("bench"))
    (instance,) = load_instances(TOY, ids=[IID])
    env = build_instance(instance, store, run_id="test-replay-build")
    assert env.status == "validated", env.detail
    return store.path


@pytest.fixture
def run(tmp_path: Path) -> Path:
    from dgm.agent import SEED_TREE
    from dgm.archive import Archive

    Archive.create(tmp_path / "run", SEED_TREE).close()
    return tmp_path / "run"


def replays(run: Path) -> list[Path]:
    return sorted((run / "artifacts" / "0" / "replays").iterdir())


def foreign_exchange(k: int) -> str:
    """A model call of another task running at the same time (the loop's run log interleaves them)."""
    return json.dumps({"ts": "2026-11-27T20:00:00Z", "accounts": ["run", "node:1"], "account": "node:1",
                       "request": {"messages": [{"role": "system", "content": "x"},
                                                {"role": "user", "content": "another task entirely"}]},
                       "response": {"choices": [{"message": {"role": "assistant", "content": f"other {k}"}}]},
                       "usage": {"prompt_tokens": 1, "completion_tokens": 1}, "cost_usd": 0.0}) + "\n"


@pytest.mark.docker
def test_live_replay_then_from_log_gives_the_identical_patch(run: Path, toy_store: Path, tmp_path: Path,
                                                              capsys) -> None:
    args = ["replay", "--run", str(run), "--node", "0", "--instance", IID, "--dataset", str(TOY),
            "--store", str(toy_store)]
    assert main([*args, "--scripted", str(script(tmp_path / "fix.json", "    return a / b"))]) == 0
    out = capsys.readouterr().out
    for text in ("step 1", "Let me look at the code first.", "▶ bash cat calc/arith.py", "◀ bash output",
                 "return a // b", "step 2", "▶ editor", "step 3", "▶ submit", "agent submitted", "RESOLVED"):
        assert text in out, text
    assert out.index("◀ bash output") < out.index("step 2")  # streamed in order
    (live,) = replays(run)
    summary = json.loads((live / "replay.json").read_text())
    assert summary["status"] == "submitted" and summary["resolved"] is True
    patch = (live / "patch.diff").read_text()
    assert "+    return a / b" in patch
    assert json.loads((live / "report.json").read_text())["resolved"] is True
    assert ">>>>> Start Test Output" in (live / "eval.log").read_text()
    calls = (live / "llm_calls.jsonl").read_text().splitlines()
    assert len(calls) == 3

    # Lay the run down as the loop does: task artifacts per node, model calls in the run's shared log,
    # interleaved with another task's calls.
    task_dir = run / "artifacts" / "0" / "tasks" / IID
    task_dir.mkdir(parents=True)
    for name in ("trajectory.json", "patch.diff"):
        shutil.copyfile(live / name, task_dir / name)
    (run / "llm_calls.jsonl").write_text("".join(foreign_exchange(k) + line + "\n" for k, line in enumerate(calls)))

    assert main([*args, "--from-log", "--no-grade"]) == 0
    out = capsys.readouterr().out
    assert "replaying 3 recorded model response(s)" in out and "no model is called" in out
    assert "patch identical to the recorded one" in out
    (_, again) = replays(run)
    assert (again / "patch.diff").read_text() == patch
    summary = json.loads((again / "replay.json").read_text())
    assert summary["same_patch"] is True and summary["divergence"] is None
    assert summary["model"] == "openai/recorded" and summary["recording"] == str(run / "llm_calls.jsonl")
    steps = json.loads((again / "trajectory.json").read_text())["steps"]
    recorded = json.loads((task_dir / "trajectory.json").read_text())["steps"]
    assert [s["tool_calls"] for s in steps] == [s["tool_calls"] for s in recorded]
    assert [s["outputs"] for s in steps] == [s["outputs"] for s in recorded]


@pytest.mark.docker
def test_unresolved_replay_names_the_failing_tests(run: Path, toy_store: Path, tmp_path: Path, capsys) -> None:
    wrong = script(tmp_path / "wrong.json", "    return round(a / b)")
    assert main(["replay", "--run", str(run), "--node", "0", "--instance", IID, "--dataset", str(TOY),
                 "--store", str(toy_store), "--scripted", str(wrong)]) == 0
    out = capsys.readouterr().out
    assert "NOT RESOLVED" in out
    assert "failing: tests/test_arith.py::test_divide_fraction" in out
    (live,) = replays(run)
    summary = json.loads((live / "replay.json").read_text())
    assert summary["resolved"] is False and "tests/test_arith.py::test_divide_fraction" in summary["failing"]


def test_from_log_without_a_recording_is_bad_input(run: Path, capsys) -> None:
    assert main(["replay", "--run", str(run), "--node", "0", "--instance", IID, "--dataset", str(TOY),
                 "--from-log"]) == 2
    assert "no recorded model calls" in capsys.readouterr().err


@pytest.mark.docker
def test_selfmod_replays_from_its_log_to_the_same_child(run: Path, tmp_path: Path, capsys) -> None:
    """The self-modification that made a node: its parent's agent on its own code, live, then from the log."""
    from dgm.archive import Archive

    task = "In coder/prompts.py, tell the model to re-run the tests after every edit. (self-modification D)"
    change = {"content": "Extend the last rule.", "tool_calls": [{"name": "editor", "arguments": {
        "command": "str_replace", "path": "coder/prompts.py",
        "old_str": "Keep outputs short (use head, grep -n, view ranges).",
        "new_str": "Keep outputs short (use head, grep -n, view ranges), and re-run the tests after every edit."}}]}
    (tmp_path / "selfmod.json").write_text(json.dumps({"rules": [{"match": "(self-modification D)",
                                                                  "replies": [change, SUBMIT]}]}))
    with Archive.open(run) as archive:
        seed = archive.checkout("0", tmp_path / "seed")
        child = archive.add_node("0", seed, improvement_task=task).id  # the child's own code does not matter here
    args = ["replay", "--run", str(run), "--node", child, "--selfmod"]
    assert main([*args, "--scripted", str(tmp_path / "selfmod.json")]) == 0
    out = capsys.readouterr().out
    assert "the self-modification that made node" in out and "▶ editor" in out and "coder/prompts.py" in out
    (live,) = sorted((run / "artifacts" / child / "replays").iterdir())
    patch = (live / "patch.diff").read_text()
    added = [ln for ln in patch.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert len(added) == 1 and "view ranges), and re-run the tests after every edit." in added[0]
    recorded = run / "artifacts" / child / "selfmod"
    recorded.mkdir(parents=True)
    for name in ("trajectory.json", "patch.diff", "llm_calls.jsonl"):
        shutil.copyfile(live / name, recorded / name)
    assert main([*args, "--from-log"]) == 0
    assert "patch identical to the recorded one" in capsys.readouterr().out
    (_, again) = sorted((run / "artifacts" / child / "replays").iterdir())
    assert (again / "patch.diff").read_text() == patch
    assert json.loads((again / "replay.json").read_text())["agent_node"] == "0"
