"""Poisoned artifacts against the loop: diagnosis survives any trajectory a run directory holds, and a
whole `python -m dgm.evolve` run with a seed that writes a poisoned trajectory finishes, rejects the
child with the reason, and resumes — even over a poisoned file planted in the parent's artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from dgm.evolve.diagnose import build_messages

SEED = Path(__file__).resolve().parents[2] / "agents_archive" / "seed"
REPO = Path(__file__).resolve().parents[2]

# An assistant message whose tool call's "function" is a string: the old diagnosis called .get() on it.
TYPED_WRONG = {"format": "dgm-trajectory-1", "status": "submitted", "reason": "done",
               "messages": [{"role": "user", "content": "fix it"},
                            {"role": "assistant", "content": "ok", "tool_calls": [{"id": "1", "function": "oops"}]}],
               "steps": [{"i": 1, "outputs": [["not", "a", "string"]]}]}


def plant(kind: str, path: Path) -> None:
    """A trajectory.json of KIND at PATH, as an older engine (or a hand) could have left it."""
    if kind == "wrong_types":
        path.write_text(json.dumps(TYPED_WRONG))
    elif kind == "messages_not_a_list":
        path.write_text(json.dumps({"format": "dgm-trajectory-1", "messages": 5}))
    elif kind == "list_document":
        path.write_text("[1, 2, 3]")
    elif kind == "deep":
        path.write_text('{"format": "dgm-trajectory-1", "messages": ' + "[" * 50_000 + "]" * 50_000 + "}")
    elif kind == "huge":
        with open(path, "w") as fh:
            fh.write('{"format": "dgm-trajectory-1", "reason": "')
            fh.write("x" * 12_000_000)
            fh.write('"}')
    elif kind == "not_utf8":
        path.write_bytes(b'{"format": "dgm-trajectory-1", "reason": "\xff"}')
    elif kind == "link_to_dev_zero":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        raise AssertionError(kind)


KINDS = ["wrong_types", "messages_not_a_list", "list_document", "deep", "huge", "not_utf8", "link_to_dev_zero",
         "fifo", "directory"]


@pytest.mark.parametrize("kind", KINDS)
def test_diagnosis_survives_any_trajectory(kind: str, tmp_path: Path) -> None:
    task_dir = tmp_path / "artifacts" / "tasks" / "t-1"
    task_dir.mkdir(parents=True)
    plant(kind, task_dir / "trajectory.json")
    (task_dir / "patch.diff").symlink_to("/dev/zero")  # the other files are read the same careful way
    results = {"t-1": {"resolved": False, "status": "submitted"}}
    box: dict = {}

    def work() -> None:
        try:
            box["messages"] = build_messages(SEED, tmp_path / "artifacts", results, {"t-1": "fix it"}, iteration=1,
                                             slot=1, slots=1, parent_id="0")
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(60)
    if kind == "fifo" and thread.is_alive():
        os.close(os.open(task_dir / "trajectory.json", os.O_WRONLY | os.O_NONBLOCK))  # let the old reader go
    assert not thread.is_alive(), "diagnosis hung on the artifact"
    assert "error" not in box, repr(box.get("error"))
    prompt = box["messages"][1]["content"]
    assert "## Failed task t-1" in prompt and "(unusable: trajectory.json" in prompt, prompt[-2000:]
    assert "### The agent's patch\n(empty)" in prompt


def test_diagnosis_says_why_a_run_crashed(tmp_path: Path) -> None:
    (tmp_path / "artifacts" / "tasks" / "t-1").mkdir(parents=True)
    row = {"resolved": False, "status": "crashed", "reason": "trajectory.json is larger than 10000000 bytes"}
    messages = build_messages(SEED, tmp_path / "artifacts", {"t-1": row}, {"t-1": "fix it"}, iteration=1, slot=1,
                              slots=1, parent_id="0")
    assert "not resolved (agent status crashed): trajectory.json is larger than 10000000 bytes" in messages[1]["content"]


# ---- the whole loop ---------------------------------------------------------------------------------

POISONED_AGENT = '''"""A seed variant that edits and exits 0 but writes a trajectory with wrongly typed fields."""
import argparse, json, os
p = argparse.ArgumentParser()
for flag in ("--task", "--repo", "--out"):
    p.add_argument(flag)
a = p.parse_args()
task = json.load(open(a.task))
with open(os.path.join(a.repo, "NOTES.txt"), "a") as fh:
    fh.write("looked at %s\\n" % task["instance_id"])
os.makedirs(a.out, exist_ok=True)
open(os.path.join(a.out, "trajectory.json"), "w").write(TRAJECTORY)
'''.replace("TRAJECTORY", repr(json.dumps(TYPED_WRONG)))


def evolve(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LITELLM_OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    # The test's own deadline: a run that hangs on an artifact fails here instead of stalling the suite.
    return subprocess.run([sys.executable, "-m", "dgm.evolve", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=420)


@pytest.mark.docker
def test_a_poisoned_trajectory_rejects_the_child_and_resume_survives_it(tmp_path: Path) -> None:
    from dgm.archive import Archive

    seed = tmp_path / "seed"
    (seed / "tests").mkdir(parents=True)
    (seed / "agent.py").write_text(POISONED_AGENT)
    (seed / "tests" / "test_ok.py").write_text("def test_ok():\n    assert True\n")
    run_dir = tmp_path / "run"
    common = ["-c", "evolve.children_per_iteration=1", "-c", "evolve.workers=2"]
    first = evolve(str(REPO / "configs" / "offline-demo.toml"), "-c", f'run.dir="{run_dir}"',
                   "-c", f'dataset.store="{tmp_path / "store"}"', "-c", "dataset.stages=[1]",
                   "-c", f'evolve.seed_agent="{seed}"', "-c", "evolve.iterations=1", "-c", "evolve.cache=off", *common)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    with Archive.open(run_dir) as archive:
        nodes = {n.id: n for n in archive.nodes()}
        root = nodes["0"]
        (task_id, row), = root.results.items()
        assert row["status"] == "crashed" and not row["resolved"], row
        assert row["reason"].startswith("trajectory.json: messages[1].tool_calls[0].function is a string"), row
        (child,) = [n for n in nodes.values() if n.id != "0"]
        assert child.status == "rejected:crashed", child.status
        assert child.meta["crash"].startswith("trajectory.json: messages[1].tool_calls[0].function"), child.meta
    assert f"node {child.id}: smoke run crashed: trajectory.json: messages[1]" in (run_dir / "log.txt").read_text()

    # What an older engine left, planted where the next diagnosis of the root reads.
    planted = run_dir / "artifacts" / "0" / "tasks" / task_id / "trajectory.json"
    planted.write_text(json.dumps(TYPED_WRONG))
    again = evolve("--resume", str(run_dir), "-c", "evolve.iterations=2")
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    with Archive.open(run_dir) as archive:
        statuses = {n.meta.get("iteration"): n.status for n in archive.nodes() if n.id != "0"}
    assert statuses == {1: "rejected:crashed", 2: "rejected:crashed"}, statuses
    # The resumed diagnosis of the root read the planted file as data and said what is wrong with it.
    asked = [json.loads(line)["request"]["messages"][-1]["content"]
             for line in (run_dir / "llm_calls.jsonl").read_text().splitlines() if "Run context: iteration 2" in line]
    assert asked and "(unusable: trajectory.json: messages[1].tool_calls[0].function is a string" in asked[0]
