"""The evolve loop on the scheduler, with the run's own host, archive, cache and state store, over a
canned executor: each child's files name how it behaves, and the executor answers by them.

No Docker and no model: the items are the loop's real items and the outcomes their real types, so
what is tested is everything around the sandbox — verdicts as archive statuses, what the cache
keeps, what a resume re-asks — in milliseconds.
"""

from __future__ import annotations

import io
import sqlite3
from concurrent.futures import Future
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dgm.archive import Archive
from dgm.bench.instances import TaskInstance
from dgm.evolve.config import EvolveConfig
from dgm.evolve.items import (AgentOutcome, CheckItem, CheckOutcome, DiagnoseItem, DiagnoseOutcome, EvalItem,
                              EvalOutcome, SelfModifyItem)
from dgm.evolve.loop import STATES_FILE, Evolution
from dgm.evolve.progress import Progress
from dgm.evolve.session import Session
from dgm.evolve.tasks import TaskPlan
from dgm.llm.gateway import Gateway
from dgm.llm.settings import ModelSettings
from dgm.scheduler.store import StateStore

TASKS = ["t1", "t2", "t3", "t4"]


def new_file(path: str, text: str) -> str:
    return (f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
            f"@@ -0,0 +1 @@\n+{text}\n")


class CannedWorld:
    """The executor: `kinds` says what the n-th self-modification makes (a child's kind.txt), and each
    kind answers checks and task runs its own way. Futures complete at submit (deterministic order)."""

    def __init__(self, kinds: list[str], *, per_iteration: int = 1, stop_after: int | None = None) -> None:
        self.kinds, self.per_iteration = list(kinds), per_iteration
        self.items: list[Any] = []
        self.stop_after = stop_after

    def submit(self, item: Any) -> "Future[Any]":
        if self.stop_after is not None and len(self.items) >= self.stop_after:
            raise KeyboardInterrupt("the run is killed here")
        self.items.append(item)
        future: Future = Future()
        future.set_result(self.answer(item))
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass

    @staticmethod
    def kind(tree: Path) -> str:
        f = Path(tree) / "kind.txt"
        return f.read_text().strip() if f.exists() else "seed"

    def answer(self, item: Any) -> Any:
        if isinstance(item, DiagnoseItem):
            return DiagnoseOutcome({"problem_statement": f"improve node {item.parent_id}"}, None, 1, ["{}"], {}, 0.1)
        if isinstance(item, SelfModifyItem):
            iteration, slot = (int(x) for x in item.key.split("."))
            n = (iteration - 1) * self.per_iteration + slot - 1
            kind = self.kinds[n] if n < len(self.kinds) else "good"
            if kind == "no change":
                return AgentOutcome("submitted", "", None, {}, "", 0.1)
            path = "HEAD" if kind == "forbidden" else "kind.txt"
            patch = new_file(path, kind)
            if kind == "forbidden":
                patch += new_file("kind.txt", "good")
            if item.out_dir is not None:
                item.out_dir.mkdir(parents=True, exist_ok=True)
            return AgentOutcome("submitted", patch, None, {}, "", 0.1)
        kind = self.kind(item.tree)
        if isinstance(item, CheckItem):
            if kind == "check crash":
                return CheckOutcome(True, "", False, "", 0.1, error="the sandbox was stopped from outside")
            return CheckOutcome(kind != "broken", "", kind != "broken", "", 0.1)
        assert isinstance(item, EvalItem)
        patch = "" if kind == "empty" else "diff --git a/x b/x\n"
        agent = AgentOutcome("submitted", patch, None, {}, "", 0.1)
        if not item.grade:
            return EvalOutcome(item.instance_id, 0, agent)
        if kind == "engine crash":
            return EvalOutcome(item.instance_id, item.stage,
                               AgentOutcome("crashed", "", None, {}, "", 0.1, error="docker went away"))
        solved = {"seed": {"t1", "t3"}, "good": set(TASKS), "best": set(TASKS), "empty": set(),
                  "half": {"t3"}, "tamper": set(TASKS)}.get(kind, set())
        return EvalOutcome(item.instance_id, item.stage, agent, resolved=item.instance_id in solved, graded=True,
                           patch_applied=bool(patch), tampering=["conftest.py"] if kind == "tamper" else [])


def make_session(tmp: Path, *, policy: str = "dgm", iterations: int = 1, children: int = 2,
                 stages: list[list[str]] | None = None, budget: float | None = None,
                 **policy_params: Any) -> Session:
    config = EvolveConfig()
    config.run.dir = str(tmp / "run")
    config.evolve.iterations, config.evolve.children_per_iteration, config.evolve.workers = iterations, children, 2
    config.dataset.gate = 0.5
    config.policy.name = policy
    config.policy.params = dict(policy_params)
    run_dir = tmp / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = tmp / "seed"
    seed.mkdir(exist_ok=True)
    (seed / "agent.py").write_text("print('seed')\n")
    archive = Archive.open(run_dir) if (run_dir / "archive.sqlite").exists() or (run_dir / "index.sqlite").exists() \
        else None
    if archive is None:
        try:
            archive = Archive.create(run_dir, seed)
        except Exception:
            archive = Archive.open(run_dir)
    instances = {t: TaskInstance(t, "org/repo", "1.0", "abc", f"problem {t}", "", "", [], []) for t in TASKS}
    plan = TaskPlan(instances, stages or [["t1", "t2"], ["t3", "t4"]], "t1")
    envs = {t: SimpleNamespace(image=f"img-{t}") for t in TASKS}
    gateway = Gateway({"task": ModelSettings("openai/canned", price_in_per_mtok=0.0, price_out_per_mtok=0.0)},
                      run_dir=run_dir, budget_usd=budget)
    progress = Progress(run_dir, live=False, stream=io.StringIO())
    work = tmp / f"work-{len(list(tmp.glob('work-*')))}"
    work.mkdir()
    return Session(config, run_dir, "rid", archive, gateway, None, plan, envs, progress, work)


def run(tmp: Path, kinds: list[str], **kw: Any) -> tuple[Any, CannedWorld, Session]:
    session = make_session(tmp, **kw)
    world = CannedWorld(kinds, per_iteration=kw.get("children", 2) if kw.get("policy", "dgm") == "dgm" else 1)
    summary = Evolution(session, executor=world).run()
    return summary, world, session


def statuses(session: Session) -> dict[str, str]:
    return {session.archive.get(n.id).meta.get("key", n.id): n.status for n in session.archive.nodes()}


def cached_rows(run_dir: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(run_dir / "cache.sqlite") as db:
        return db.execute("SELECT tree_hash, instance_id FROM results").fetchall()


def test_every_verdict_reaches_the_archive_in_the_vocabulary(tmp_path: Path) -> None:
    kinds = ["good", "broken", "empty", "forbidden", "no change", "half", "tamper", "check crash"]
    summary, world, session = run(tmp_path, kinds, children=len(kinds))
    got = statuses(session)
    assert got == {"0": "admitted", "c0": "admitted", "c1": "rejected:does not compile",
                   "c2": "rejected:empty patches", "c3": "rejected:forbidden name in tree: HEAD",
                   "c4": "rejected:no change", "c5": "rejected:below gate", "c6": "rejected:runner tampering",
                   "c7": "rejected:crashed"}, got
    a = session.archive
    forbidden = next(n for n in a.nodes() if n.meta.get("key") == "c3")
    assert a.tree_hash(forbidden.id) == a.tree_hash("0") and "HEAD" in forbidden.meta["patch_error"]
    assert summary.reasons == {"does not compile": 1, "empty patches": 1, "forbidden name in tree": 1,
                               "no change": 1, "below gate": 1, "runner tampering": 1, "crashed": 1}
    good = next(n for n in a.nodes() if n.meta.get("key") == "c0")
    assert good.stage_scores == {"0": 1.0, "1": 1.0, "2": 1.0} and good.score == 1.0
    assert (session.run_dir / "iterations" / "1" / "slot-1" / "diagnosis.json").is_file()
    log = (session.run_dir / "log.txt").read_text()
    assert f"node {good.id} admitted" in log and "rejected: forbidden name in tree: HEAD" in log


def test_an_engine_failure_is_crashed_and_never_cached(tmp_path: Path) -> None:
    summary, world, session = run(tmp_path, ["check crash", "engine crash"])
    got = statuses(session)
    assert got["c0"] == "rejected:crashed" and got["c1"] == "rejected:crashed", got
    tree = {n.meta.get("key", n.id): session.archive.tree_hash(n.id) for n in session.archive.nodes()}
    rows = cached_rows(session.run_dir)
    assert [i for t, i in rows if t == tree["c0"]] == []   # its check was killed: nothing about its code
    assert sorted(i for t, i in rows if t == tree["c1"]) == ["stage0", "t1"]   # stage 0 and the smoke run only
    assert sorted(i for t, i in rows if t == tree["0"]) == TASKS


def test_stage_one_of_empty_patches_rejects_the_child(tmp_path: Path) -> None:
    # Stage 0 passes (a smoke patch), but every stage-1 task comes back without a patch.
    session = make_session(tmp_path, children=1)
    world = CannedWorld(["good"], per_iteration=1)
    original = world.answer

    def answer(item: Any) -> Any:
        out = original(item)
        if isinstance(item, EvalItem) and item.grade and item.node_id != "0":
            return EvalOutcome(item.instance_id, item.stage, AgentOutcome("submitted", "", None, {}, "", 0.1),
                               graded=True)
        return out

    world.answer = answer   # type: ignore[method-assign]
    Evolution(session, executor=world).run()
    assert statuses(session)["c0"] == "rejected:empty patches"


def test_a_rerun_of_a_tree_is_answered_from_the_cache(tmp_path: Path) -> None:
    summary, world, session = run(tmp_path, ["good", "good"], children=2)
    graded = [i for i in world.items if isinstance(i, EvalItem) and i.grade and i.node_id != "0"]
    assert len(graded) == 4   # the second "good" child has the first one's tree: every result cached
    assert summary.cache_hits >= 4
    assert list(statuses(session).values()).count("admitted") == 3


@pytest.mark.parametrize("stop_after", [1, 3, 6, 9, 12])
def test_a_run_killed_anywhere_resumes_to_the_same_archive(tmp_path: Path, stop_after: int) -> None:
    kinds = ["good", "broken", "half"]
    whole, _, reference = run(tmp_path / "whole", kinds, children=3)
    expected = statuses(reference)
    reference.archive.close()

    session = make_session(tmp_path / "killed", children=3)
    with pytest.raises(KeyboardInterrupt):
        Evolution(session, executor=CannedWorld(kinds, per_iteration=3, stop_after=stop_after)).run()
    session.archive.close()
    again = make_session(tmp_path / "killed", children=3)
    again.config.run.resume = True
    Evolution(again, executor=CannedWorld(kinds, per_iteration=3)).run()
    got = statuses(again)
    assert sorted(got.values()) == sorted(expected.values()), (got, expected)
    keys = [n.meta.get("key") for n in again.archive.nodes() if n.id != "0"]
    assert len(keys) == len(set(keys))   # no child twice


def test_the_states_are_persisted_rows(tmp_path: Path) -> None:
    _, _, session = run(tmp_path, ["good", "broken"])
    store = StateStore(session.run_dir / STATES_FILE)
    states = {s.key: s for s in store.load()}
    assert states["root"].done and states["c0"].verdict.value == "admitted"
    assert states["c1"].verdict.value == "does not compile"


def test_hgm_runs_the_real_loop_task_by_task(tmp_path: Path) -> None:
    summary, world, session = run(tmp_path, ["good", "half", "broken", "good"], policy="hgm", iterations=2,
                                  children=2)
    got = statuses(session)
    assert len(got) == 5 and got["c2"] == "rejected:does not compile", got
    graded = [i for i in world.items if isinstance(i, EvalItem) and i.grade]
    per_node: dict[str, int] = {}
    for i in graded:
        per_node[i.node_id] = per_node.get(i.node_id, 0) + 1
    assert all(v <= len(TASKS) for v in per_node.values())   # one task at a time, each at most once
    assert summary.best is not None and summary.best[1] == 1.0
    log = (session.run_dir / "log.txt").read_text()
    assert "the policy evaluates it task by task" in log


def test_sequential_drops_a_child_that_does_not_beat_its_parent(tmp_path: Path) -> None:
    summary, world, session = run(tmp_path, ["empty", "half", "good"], policy="sequential", iterations=3,
                                  children=1, min_tasks=2, delta=0.45)
    got = statuses(session)
    assert got["c0"] == "rejected:empty patches"
    assert summary.best is not None and summary.best[1] == 1.0


class PayingWorld(CannedWorld):
    """Every task run costs $0.10 on the run's ledger, as the relay would charge it; once the run's budget
    is gone the relay refuses the calls, so a run ends unfinished ("error") and its account is cut."""

    def __init__(self, ledger: Any, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.ledger = ledger
        self.after_stop = 0

    def answer(self, item: Any) -> Any:
        out = super().answer(item)
        if not isinstance(item, EvalItem):
            return out
        left = self.ledger.remaining()
        if left is not None and left <= 0:
            self.after_stop += 1
            self.ledger._note_cut("run", [item.account, "run"])
            return EvalOutcome(item.instance_id, item.stage, AgentOutcome("error", "", None, {}, "", 0.1))
        self.ledger.charge([item.account], usd=0.10)
        return out


def test_the_budget_stops_new_work_and_rejects_what_it_cut(tmp_path: Path) -> None:
    session = make_session(tmp_path, children=4, budget=1.05)
    world = PayingWorld(session.gateway.ledger, ["good", "good", "half", "good"], per_iteration=4)
    summary = Evolution(session, executor=world).run()
    assert summary.stopped == "over budget"
    got = statuses(session)
    assert got["0"] == "admitted"
    cut = [k for k, v in got.items() if v == "rejected:over budget"]
    assert cut, got   # children the budget cut are rejected over budget, not judged on their own code
    assert "pending" not in got.values()
    assert world.after_stop <= session.config.evolve.workers   # only work already in flight ran after the stop
    log = (session.run_dir / "log.txt").read_text()
    assert "budget reached" in log


def test_a_run_made_before_child_states_resumes_from_its_archive(tmp_path: Path) -> None:
    """An archive whose run kept no state rows (an older dgm): decided nodes stay as they are, a pending
    node past stage 0 continues at stage 1 with its recorded results replayed, not rerun."""
    _, _, session = run(tmp_path, ["good", "broken"], children=2)
    a = session.archive
    good = next(n for n in a.nodes() if n.meta.get("key") == "c0")
    a.update_node(good.id, status="pending", results={"t1": good.results["t1"]},
                  meta={k: v for k, v in good.meta.items() if k != "key"})
    for n in a.nodes():
        if n.id != "0":
            a.update_node(n.id, meta={k: v for k, v in n.meta.items() if k != "key"})
    a.close()
    (session.run_dir / STATES_FILE).unlink()
    again = make_session(tmp_path, children=2)
    again.config.evolve.cache = "off"   # every task run the resume asks reaches the executor
    world = CannedWorld(["good", "broken"], per_iteration=2)
    Evolution(again, executor=world).run()
    nodes = {n.id: n for n in again.archive.nodes()}
    assert len(nodes) == 3   # nothing made twice
    assert nodes[good.id].status == "admitted" and set(nodes[good.id].results) == set(TASKS)
    graded = [(i.node_id, i.instance_id) for i in world.items if isinstance(i, EvalItem) and i.grade]
    assert (good.id, "t1") not in graded and (good.id, "t2") in graded
    assert not any(isinstance(i, (CheckItem, DiagnoseItem, SelfModifyItem)) for i in world.items)
