"""The whole loop, for real: Docker sandboxes, git archive, litellm over HTTP to the scripted model.

The scripted model (configs/offline-demo-script.json) lets the seed solve two of the four toy tasks and
makes four children over two iterations:
iteration 1 — "read the issue twice" (solves snake_to_camel too: admitted, above the seed) and a syntax
error (does not compile);
iteration 2 — "check even and odd cases" (fixes median: admitted, above the seed) and "re-run the tests
after every edit" (admitted; it changes no task's outcome).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dgm.archive import Archive

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "offline-demo.toml"
STAGES = "dataset.stages=[1, 3]"  # the demo's own: all four toy tasks


def evolve(run_dir: Path, store: Path, *extra: str, resume: bool = False, **popen) -> subprocess.Popen:
    args = [sys.executable, "-m", "dgm.evolve"]
    if resume:
        args += ["--resume", str(run_dir)]
    else:
        args += [str(CONFIG), "-c", f'run.dir="{run_dir}"', "-c", f'dataset.store="{store}"', "-c", STAGES]
    for item in extra:
        args += ["-c", item]
    env = {**os.environ, "LITELLM_OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, **popen)


def finish(proc: subprocess.Popen, timeout: float = 480) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def run_id(run_dir: Path) -> str:
    return json.loads((run_dir / "run.json").read_text())["run_id"]


def containers_of(rid: str) -> list:
    import docker

    return docker.from_env().containers.list(all=True, filters={"label": f"dgm.run={rid}"})


def fsck_clean(run_dir: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "dgm.archive", "fsck", str(run_dir)], capture_output=True,
                         text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr


def spent(run_dir: Path) -> tuple[float, float]:
    """(dollars of every recorded call, the dearest single call)."""
    costs = [json.loads(line).get("cost_usd") or 0.0
             for line in (run_dir / "llm_calls.jsonl").read_text().splitlines() if line.strip()]
    return sum(costs), max(costs, default=0.0)


def pending_nodes(run_dir: Path) -> int:
    """Pending nodes, read from the index without opening the archive for writing."""
    import sqlite3

    index = run_dir / "archive.sqlite"
    if not index.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{index}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM nodes WHERE status='pending'").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-store")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, store: Path) -> Path:
    """The offline demo's two iterations; its results go to a cache file other runs may share."""
    run_dir = tmp_path_factory.mktemp("evolve") / "run"
    finish(evolve(run_dir, store, f'evolve.cache="{run_dir.parent / "shared-cache.sqlite"}"'), timeout=720)
    return run_dir


def test_two_iterations_admit_and_reject_with_reasons(demo: Path) -> None:
    with Archive.open(demo) as archive:
        nodes = {n.id: n for n in archive.nodes()}
        root = nodes["0"]
        # The seed fails two tasks: the run has room to improve, and does.
        assert root.status == "admitted" and root.meta.get("evaluated") and root.score == 0.5
        assert set(root.stage_scores) == {"1", "2"} and len(root.results) == 4
        by_slot = {(n.meta["iteration"], n.meta["slot"]): n for n in nodes.values() if n.id != "0"}
        assert sorted(by_slot) == [(1, 1), (1, 2), (2, 1), (2, 2)]
        good, broken = by_slot[(1, 1)], by_slot[(1, 2)]
        second, rerun = by_slot[(2, 1)], by_slot[(2, 2)]
        assert good.status == "admitted", good.status
        assert good.parent_id == "0" and good.generation == 1
        # lineage in git: the child's commit has the parent's commit as its parent
        parent_sha = subprocess.run(["git", "--git-dir", str(demo / "archive.git"), "rev-parse",
                                     f"{good.commit}^"], capture_output=True, text=True).stdout.strip()
        assert parent_sha == root.commit
        assert "Read the whole issue twice before you act." in archive.diff("0", good.id)
        assert good.stage_scores == {"0": 1.0, "1": 1.0, "2": pytest.approx(2 / 3, abs=1e-3)}
        assert good.score == 0.75 and good.results["dgm-toy__textkit-2"]["resolved"]
        assert len(good.results) == 4 and good.diagnosis and good.improvement_task
        assert good.cost_usd > 0 and good.tokens_in > 0
        assert broken.status == "rejected:does not compile"
        assert rerun.status == "admitted" and "re-run the tests after every edit" in archive.diff(rerun.parent_id,
                                                                                                 rerun.id)
        assert second.status == "admitted" and second.parent_id in ("0", good.id)
        assert second.results["dgm-toy__calc-2"]["resolved"] and second.score > root.score
        # Built on the first improvement, the second solves every task; on the seed, three of four.
        assert second.score == (1.0 if second.parent_id == good.id else 0.75)
        art = demo / "artifacts" / good.id
        for name in ("diagnosis.json", "selfmod/patch.diff", "selfmod/trajectory.json", "stage0/tests.log"):
            assert (art / name).is_file(), name
        task_dirs = list((art / "tasks").iterdir())
        assert len(task_dirs) == 4 and all((d / "eval.log").is_file() for d in task_dirs)
        assert "SyntaxError" in (demo / "artifacts" / broken.id / "stage0" / "compile.log").read_text()
    # the malformed first diagnosis was re-asked once
    answers = json.loads((demo / "iterations" / "1" / "slot-1" / "diagnose-answers.json").read_text())
    assert answers["attempts"] == 2
    log = (demo / "log.txt").read_text()
    assert "run finished" in log and f"node {broken.id} rejected: does not compile" in log
    fsck_clean(demo)
    assert containers_of(run_id(demo)) == []


def test_budget_cap_stops_the_run_at_the_cap(tmp_path: Path, store: Path, demo: Path) -> None:
    # Price the same run from the demo's recording: with one stage-1 task, the seed's evaluation and
    # iteration 1's diagnoses and self-modifications come first, then the first child's smoke run.
    # The cap fell inside that smoke run when calls were checked, not reserved: now no call is sent whose
    # worst case does not fit under it.
    calls = [json.loads(line) for line in (demo / "llm_calls.jsonl").read_text().splitlines() if line]
    before = sum(c["cost_usd"] for c in calls if c["account"] == "node:0:task:dgm-toy__calc-1"
                 or c["account"].startswith("slot:1."))
    smoke = next(c["cost_usd"] for c in calls if ":smoke:" in c["account"])
    cap = round(before + smoke / 2, 6)
    run_dir = tmp_path / "run"
    out = finish(evolve(run_dir, store, "dataset.stages=[1]", f"budget.usd={cap}"))
    assert "stopped at the budget cap" in out
    total, dearest = spent(run_dir)
    assert total <= cap  # every call reserved its worst case before it went out: the cap holds to the cent
    with Archive.open(run_dir) as archive:
        statuses = {n.id: n.status for n in archive.nodes()}
    assert "pending" not in statuses.values()
    # a diagnosis reserves its prompt's bytes as tokens (~$0.15 here, more than is left): no child starts
    assert statuses == {"0": "admitted"}, statuses
    log = (run_dir / "log.txt").read_text()
    assert "budget reached" in log and "resume with a larger one" in log
    fsck_clean(run_dir)
    assert containers_of(run_id(run_dir)) == []


def test_sigkill_mid_iteration_then_resume(tmp_path: Path, store: Path) -> None:
    run_dir = tmp_path / "run"
    proc = evolve(run_dir, store, "evolve.iterations=1", "dataset.stages=[1]", start_new_session=True)
    deadline = time.monotonic() + 400
    killed_with: dict[str, str] = {}
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail("the run ended before it could be killed:\n" + proc.stdout.read()[-3000:])
            if pending_nodes(run_dir):  # a child exists and is being verified: kill now
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.2)
        else:
            pytest.fail("no child was created in time")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    with Archive.open(run_dir) as archive:
        killed_with = {n.id: n.status for n in archive.nodes()}
    assert any(s == "pending" for s in killed_with.values()), killed_with
    finish(evolve(run_dir, store, resume=True))
    with Archive.open(run_dir) as archive:
        nodes = archive.nodes()
        after = {n.id: n.status for n in nodes}
        slots = [(n.meta.get("iteration"), n.meta.get("slot")) for n in nodes if n.id != "0"]
    assert sorted(slots) == [(1, 1), (1, 2)]  # nothing duplicated
    for node_id, status in killed_with.items():
        if status == "admitted":
            assert after[node_id] == "admitted"  # nothing admitted was lost
    assert "pending" not in after.values()
    assert after[[n.id for n in nodes if n.meta.get("slot") == 1][0]] == "admitted"
    log = (run_dir / "log.txt").read_text()
    assert "resuming run" in log and "the run had spent $" in log  # the ledger was reloaded
    fsck_clean(run_dir)
    assert containers_of(run_id(run_dir)) == []


def test_a_rerun_of_the_same_evaluation_costs_nothing(tmp_path: Path, store: Path, demo: Path) -> None:
    again = tmp_path / "again"
    out = finish(evolve(again, store, "evolve.iterations=0", f'evolve.cache="{demo.parent / "shared-cache.sqlite"}"'))
    assert "cache hits 4" in out
    calls = again / "llm_calls.jsonl"
    assert not calls.exists() or calls.read_text().strip() == ""  # not one model call the second time
    with Archive.open(demo) as a, Archive.open(again) as b:
        r1, r2 = a.get("0"), b.get("0")
        assert a.tree_hash("0") == b.tree_hash("0")
        assert r2.score == r1.score and set(r2.results) == set(r1.results)
        assert all(r["cached"] for r in r2.results.values()) and r2.cost_usd == 0
    assert (again / "artifacts" / "0" / "tasks" / "dgm-toy__calc-1" / "eval.log").is_file()
