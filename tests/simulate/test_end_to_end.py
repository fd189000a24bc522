"""The real scheduler, policies, selection strategies and archive, driven by the simulated executor."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm.archive import Archive
from dgm.scheduler.registry import make_policy
from dgm.scheduler.scheduler import Budget, Scheduler
from dgm.scheduler.states import Evaluate
from dgm.scheduler.verdicts import Verdict, verdict_of
from dgm.simulate.executor import SimulatedExecutor
from dgm.simulate.runner import open_run, plan_for, simulate
from dgm.simulate.world import World, WorldParams


def check_archive(path: Path, world: World) -> Archive:
    """Every status in the archive is a verdict of the one vocabulary; every node has a genome."""
    archive = Archive.open(path / "archive")
    for node in archive.nodes():
        if node.status != "pending":
            assert verdict_of(node.status) is not None, node.status
        assert node.id in world.node_genome
    return archive


@pytest.mark.parametrize("policy,strategy,budget", [
    ("dgm", "score_child_prop", None), ("dgm", "hgm_thompson", None), ("hgm", "hgm_thompson", 150),
    ("sequential", "hgm_thompson", 150), ("sequential", "lower_bound", 150), ("sequential", "lineage", 150),
])
def test_each_policy_runs_on_a_real_archive(tmp_path: Path, policy: str, strategy: str, budget: int | None) -> None:
    result = simulate(policy, strategy=strategy, seed=3, workers=4, max_evals=budget, iterations=4,
                      work_dir=tmp_path)
    world = World(WorldParams(), 3)
    assert result.nodes > 1 and result.items > 0
    assert 0.0 < result.utilisation <= 1.0
    assert result.final_quality == result.final_quality   # a pick exists (not nan)
    archive = Archive.open(tmp_path / "archive")
    statuses = [n.status for n in archive.nodes()]
    assert "pending" not in statuses    # the run decided every child it started
    reasons = {verdict_of(s) for s in statuses}
    assert None not in reasons
    if policy == "dgm":
        # Four iterations of two children (a child without a tree is still recorded, holding its parent's).
        assert len(statuses) == 1 + 8
    graded = sum(len(n.results) for n in archive.nodes())
    assert graded > 0 and result.evals[-1] >= graded


def test_async_policies_keep_the_workers_busy_and_dgm_does_not() -> None:
    dgm = simulate("dgm", seed=5, workers=8, iterations=12, archive="memory")
    hgm = simulate("hgm", seed=5, workers=8, max_evals=int(dgm.evals[-1]), archive="memory")
    seq = simulate("sequential", seed=5, workers=8, max_evals=int(dgm.evals[-1]), archive="memory")
    assert hgm.utilisation > 0.9 and seq.utilisation > 0.9
    assert dgm.utilisation < hgm.utilisation


def test_a_run_killed_midway_resumes_from_its_persisted_states(tmp_path: Path) -> None:
    world = World(WorldParams(), 11)

    class Killed(Exception):
        pass

    delivered: list = []

    def kill_after(s: Scheduler, work: object, outcome: object) -> None:
        delivered.append(work)
        if len(delivered) == 60:
            raise Killed()

    def session(on_event=None):
        policy = make_policy("dgm", plan_for(world), params={"iterations": 6, "children_per_iteration": 2}, seed=11)
        archive, host, view, store = open_run(tmp_path, world)
        executor = SimulatedExecutor(world)
        return Scheduler(policy, executor, host, store, view, slots=4, on_event=on_event), archive, store

    sched, archive, store = session(kill_after)
    with pytest.raises(Killed):
        sched.run()
    inflight = [w for w in sched.inflight.values()]
    assert inflight, "the kill should leave work in flight"
    pending_before = [n.id for n in archive.nodes() if n.status == "pending"]
    archive.close()
    store.close()

    sched, archive, store = session()
    sched.on_event = lambda s, w, o: delivered.append(w)
    sched.run()
    # Nothing finished before the kill is done again: each piece of work is answered once in all.
    assert len(delivered) == len(set(delivered))
    final = check_archive(tmp_path, world)
    keys = [n.meta.get("key") for n in final.nodes() if n.meta.get("key")]
    assert len(keys) == len(set(keys)), "a resumed child must not be added twice"
    assert len(final.nodes()) == 1 + 12
    for node_id in pending_before:
        assert final.get(node_id).status != "pending"
    # The work in flight at the kill was asked again (or answered from the archive's stored results).
    for work in inflight:
        if isinstance(work, Evaluate) and work.graded:
            assert work.instance_id in final.get(work.node_id).results
    assert all(s.done for s in sched.view.states.values())


def test_world_parameters_are_validated() -> None:
    from dgm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"world.broken = 1.5 is out of range \(give a value in \[0.0, 1.0\]\)"):
        WorldParams.from_table({"broken": 1.5})
    with pytest.raises(ConfigError, match="unknown world parameter 'brokn'"):
        WorldParams.from_table({"brokn": 0.2})
    with pytest.raises(ConfigError, match="not a whole number"):
        WorldParams.from_table({"tasks": 60.5})
    assert WorldParams.from_table({"broken": 0.3}).broken == 0.3


def test_the_default_world_is_as_stated() -> None:
    from dgm.simulate.world import disagreement

    world = World(WorldParams(tasks=2000), 0)
    assert abs(world.quality(0) - 0.20) < 1e-6
    assert 0.17 < disagreement(world) < 0.23    # a fifth of the tasks flip between two runs of one agent


def test_an_unknown_policy_or_strategy_names_the_choices() -> None:
    from dgm.errors import BadInput

    with pytest.raises(BadInput, match="choose one of dgm, hgm, sequential"):
        make_policy("greedy", plan_for(World(WorldParams(), 0)))
    with pytest.raises(BadInput, match="choose one of score_child_prop"):
        make_policy("dgm", plan_for(World(WorldParams(), 0)), strategy="nope")


def test_verdicts_written_by_a_run_read_back(tmp_path: Path) -> None:
    simulate("dgm", seed=2, workers=2, iterations=6, work_dir=tmp_path)
    archive = Archive.open(tmp_path / "archive")
    seen = {verdict_of(n.status) for n in archive.nodes()}
    assert Verdict.ADMITTED in seen and len(seen) >= 3
