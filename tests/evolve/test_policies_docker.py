"""The asynchronous policies through the whole real loop: Docker sandboxes, git archive, the scripted
model over HTTP, on the toy tasks. Each evaluates nodes one task at a time instead of in stages."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from dgm.archive import Archive
from tests.evolve.test_evolve_docker import containers_of, evolve, finish, fsck_clean, run_id

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-store")


@pytest.mark.parametrize("policy", ["hgm", "sequential"])
def test_an_asynchronous_policy_runs_the_real_loop(tmp_path: Path, store: Path, policy: str) -> None:
    run_dir = tmp_path / "run"
    # A pool of two tasks: each open node is evaluated on both, one at a time.
    extra = [f'policy.name="{policy}"', "evolve.iterations=1", "evolve.children_per_iteration=2",
             "dataset.stages=[1, 1]"]
    if policy == "sequential":
        extra.append("policy.params={min_tasks = 1, delta = 0.2}")
    out = finish(evolve(run_dir, store, *extra))
    assert "run finished" in out, out[-3000:]
    with Archive.open(run_dir) as archive:
        nodes = {n.id: n for n in archive.nodes()}
        children = [n for n in nodes.values() if n.id != "0"]
        assert len(children) == 2, [(n.id, n.status) for n in children]   # iterations x children_per_iteration
        assert all(n.meta.get("key") for n in children)
        assert nodes["0"].results   # the root is evaluated task by task like any node
        tasks = {n.id: set(n.results) for n in nodes.values()}
    # Every task run of a node was asked once: the policy never re-runs a task it has a result for.
    with sqlite3.connect(run_dir / "states.sqlite") as db:
        states = [json.loads(r[0]) for r in db.execute("SELECT state FROM child_states")]
    assert {s["key"] for s in states} == {"root", "c0", "c1"}
    admitted = [s for s in states if s["phase"] == "open"]
    assert admitted, states   # admitted after stage 0, then evaluated one task at a time
    for s in admitted:
        assert s["evaluated"] == len(tasks[s["node_id"]])
    log = (run_dir / "log.txt").read_text()
    assert "the policy evaluates it task by task" in log
    assert f"policy {policy}" in out or "best node" in out
    fsck_clean(run_dir)
    assert containers_of(run_id(run_dir)) == []
