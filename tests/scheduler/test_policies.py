"""The policies' decisions on hand-built trees (no executor, no archive)."""

from __future__ import annotations

from dgm.archive.node import Node
from dgm.scheduler.policies import DgmPolicy, Expand, HgmPolicy, Probe
from dgm.scheduler.registry import make_policy
from dgm.scheduler.sequential import SequentialPolicy
from dgm.scheduler.states import ChildState, EvalPlan, Phase
from dgm.scheduler.strategies import make_strategy
from dgm.scheduler.verdicts import Verdict
from dgm.scheduler.view import TreeView

TASKS = tuple(f"t{i}" for i in range(20))
PLAN = EvalPlan(stages=(TASKS[:5], TASKS[5:]), smoke="t0", gate=0.4)


def tree(results: dict[str, list[bool]], parents: dict[str, str], phase: Phase = Phase.OPEN) -> TreeView:
    view = TreeView(tasks=TASKS, slots=4)
    for nid, res in results.items():
        r = {TASKS[i]: {"resolved": v} for i, v in enumerate(res)}
        view.add_node(Node(id=nid, commit="", parent_id=parents.get(nid), generation=0, status="admitted",
                           results=r, score=sum(res) / len(res) if res else None))
        view.put_state(ChildState(f"c{nid}", parents.get(nid), phase=phase, node_id=nid, root=nid == "0"))
    return view


def test_dgm_waits_for_the_whole_iteration_then_selects_k_parents() -> None:
    policy = DgmPolicy(make_strategy("score_child_prop"), PLAN, children_per_iteration=3, iterations=2)
    view = tree({"0": [True, False]}, {})
    view.put_state(ChildState("c9", "0", phase=Phase.MODIFYING))
    assert policy.next(view) == []       # a child of this iteration is still under way: a slot idles
    view.put_state(ChildState("c9", "0", phase=Phase.DONE, verdict=Verdict.NO_CHANGE))
    assert policy.next(view) == [Expand("0")] * 3
    view.expansions = 6
    assert policy.next(view) == []       # iterations done


def test_hgm_expands_when_evaluations_outgrow_the_tree_and_otherwise_probes() -> None:
    policy = HgmPolicy(make_strategy("hgm_thompson"), PLAN, alpha=0.6)
    view = tree({"0": [True, False, True], "1": [True]}, {"1": "0"})
    view.evals_done = 1                  # 1 ** 0.6 = 1 >= 1 node beyond the root: expand
    assert isinstance(policy.next(view)[0], Expand)
    view.evals_done = 0
    (probe,) = policy.next(view)
    assert isinstance(probe, Probe) and probe.instance_id not in view.asked[probe.node_id]


def test_sequential_closes_a_child_that_loses_to_its_parent_on_shared_tasks() -> None:
    policy = SequentialPolicy(make_strategy("lower_bound"), PLAN, delta=0.2, min_tasks=5)
    parent = [True] * 6 + [False] * 4
    view = tree({"0": parent, "1": [False] * 6, "2": [True] * 6, "3": [False] * 3}, {"1": "0", "2": "0", "3": "0"})
    assert policy.review(view, view.states["c1"]) is not None          # lost 6 of 6 disagreements
    assert policy.review(view, view.states["c1"]).verdict is Verdict.BELOW_GATE
    assert policy.review(view, view.states["c2"]) is None               # no loss: keeps its place
    assert policy.review(view, view.states["c3"]) is None               # too few tasks to judge
    view.started["1"] = 1
    assert policy.review(view, view.states["c1"]) is None               # a parent of a child under way


def test_the_final_picks() -> None:
    view = tree({"0": [True] * 5 + [False] * 15, "1": [True], "2": [True] * 8 + [False] * 4},
                {"1": "0", "2": "0"})
    assert make_policy("dgm", PLAN).pick(view) == "1"              # DGM: best score, however few tasks
    assert make_policy("hgm", PLAN).pick(view) == "2"              # the epsilon-quantile does not trust 1/1
    assert make_policy("sequential", PLAN).pick(view) == "2"
