"""The tree posterior (dgm/scheduler/lineage.py) and the decisions `sequential` takes on it, on hand-made trees."""

from __future__ import annotations

import random

import numpy as np
import pytest

from dgm.archive.node import Node
from dgm.scheduler import lineage
from dgm.scheduler.lineage import lineage_posterior
from dgm.scheduler.policies import Probe
from dgm.scheduler.registry import make_policy
from dgm.scheduler.sequential import SequentialPolicy
from dgm.scheduler.states import ChildState, EvalPlan, Phase
from dgm.scheduler.strategies import make_strategy
from dgm.scheduler.view import TreeView

TASKS = tuple(f"t{i}" for i in range(20))
PLAN = EvalPlan(stages=(TASKS[:5], TASKS[5:]), smoke="t0", gate=0.4)


def node(nid: str, parent: str | None, results: dict[str, bool], status: str = "admitted") -> Node:
    r = {t: {"resolved": v} for t, v in results.items()}
    return Node(id=nid, commit="", parent_id=parent, generation=0, status=status, results=r,
                score=sum(results.values()) / len(results) if results else None)


def first(k: int, solved: int) -> dict[str, bool]:
    """Results on the first k tasks, the first `solved` of them resolved."""
    return {TASKS[i]: i < solved for i in range(k)}


def view_of(nodes: list[Node]) -> TreeView:
    view = TreeView(tasks=TASKS, slots=4)
    for n in nodes:
        view.add_node(n)
        view.put_state(ChildState(f"c{n.id}", n.parent_id, phase=Phase.OPEN, node_id=n.id, root=n.parent_id is None))
    return view


def test_a_child_without_results_is_estimated_at_its_parent() -> None:
    post = lineage_posterior([node("0", None, first(20, 8)), node("1", "0", {})], TASKS, tau=0.05)
    (m0, s0), (m1, s1) = post.of("0"), post.of("1")
    assert m1 == pytest.approx(m0) and s1 == pytest.approx(np.hypot(s0, 0.05))


def test_descendants_results_move_an_ancestor() -> None:
    alone = lineage_posterior([node("0", None, first(10, 5))], TASKS).of("0")[0]
    kids = [node("0", None, first(10, 5))] + [node(str(i), "0", first(10, 9)) for i in (1, 2, 3)]
    pooled = lineage_posterior(kids, TASKS).of("0")[0]
    assert pooled > alone + 0.05             # three children that solve more: the parent is better than 5/10 said


def test_results_pool_along_the_lineage_so_a_lucky_short_record_does_not_win() -> None:
    nodes = [node("0", None, first(20, 6)), node("1", "0", first(2, 2)), node("2", "0", first(20, 9))]
    post = lineage_posterior(nodes, TASKS)
    assert post.of("1")[0] < post.of("2")[0]   # 2/2 after a 6/20 parent is not 100%; 9/20 on 20 tasks is better
    assert post.of("2")[0] < 9 / 20 + 1e-9     # and shrunk towards its parent


def test_task_difficulty_is_accounted_so_different_task_sets_compare() -> None:
    # "easy" tasks t0..t9 solved by everyone, "hard" t10..t19 by nobody but node 2.
    pop = [node("0", None, {**{t: True for t in TASKS[:10]}, **{t: False for t in TASKS[10:]}})]
    pop += [node("1", "0", {t: True for t in TASKS[:10]}), node("2", "0", {t: True for t in TASKS[10:12]})]
    post = lineage_posterior(pop, TASKS, tau=1.0)   # a wide step: each node judged by its own results
    assert post.of("2")[0] > post.of("1")[0] + 0.1   # 2/2 on hard tasks beats 10/10 on tasks everybody solves


def test_the_node_by_node_and_the_per_depth_passes_agree() -> None:
    rng = np.random.default_rng(1)
    parent = np.array([-1] + [int(rng.integers(0, i)) for i in range(1, 60)])
    p_obs, h_obs = rng.uniform(0, 50, 60), rng.uniform(0, 20, 60)
    depth = lineage._depths(parent)
    a = lineage._passes_loop(parent, p_obs, h_obs, 0.3, 0.0025)
    b = lineage._passes_levels(parent, depth, int(depth.max()) + 1, p_obs, h_obs, 0.3, 0.0025)
    for x, y in zip(a, b):
        assert np.allclose(x, y)


def test_sequential_expands_from_the_best_posterior_not_the_luckiest_score() -> None:
    policy = SequentialPolicy(make_strategy("lineage"), PLAN, alpha=0.6)
    view = view_of([node("0", None, first(20, 6)), node("1", "0", first(2, 2)), node("2", "0", first(20, 9))])
    view.evals_done = 100                     # 100 ** 0.6 >= 2 nodes beyond the root: expand
    assert policy._parent(view) == "2"
    assert [p.parent_id for p in policy.next(view)] == ["2"]
    assert make_strategy("lineage").select(view.node_list(), view.children, 2, random.Random(0)) == ["2", "2"]
    assert make_policy("sequential", PLAN).selector.name == "lineage"   # the default strategy


def test_sequential_picks_the_surest_best_and_probes_on_the_shared_order() -> None:
    policy = SequentialPolicy(make_strategy("lineage"), PLAN, epsilon=0.1, tau=0.1)
    # 1 solved the hardest task (the higher posterior mean, on one result); 2 solved 8 of 20 after a 6/20 parent.
    view = view_of([node("0", None, first(20, 6)), node("1", "0", {TASKS[-1]: True}), node("2", "0", first(20, 8))])
    post = policy.posterior(view)
    assert post.of("1")[0] > post.of("2")[0]
    assert policy.pick(view) == "2"           # the pick asks for evidence: the epsilon-quantile
    view.evals_done = 0                       # 0 ** 0.6 < 2: no expansion, a probe
    (probe,) = policy.next(view)
    assert isinstance(probe, Probe) and probe.node_id == "1"   # 0 and 2 have every task
    assert probe.instance_id not in view.asked[probe.node_id]
    assert probe.instance_id == next(t for t in policy.order(view) if t not in view.asked[probe.node_id])


def test_the_posterior_follows_new_results() -> None:
    policy = SequentialPolicy(make_strategy("lineage"), PLAN)
    view = view_of([node("0", None, first(10, 5)), node("1", "0", first(4, 2))])
    before = policy.posterior(view).of("1")[0]
    for t in TASKS[4:14]:
        view.record("1", t, True)
    view.evals_done += 10
    assert policy.posterior(view).of("1")[0] > before + 0.05
