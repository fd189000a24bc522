"""The admission gate: the configured verifiers decide, through the pure transitions, the real loop over a
canned executor (dgm, hgm and sequential), and each verifier's judgement on a real archive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dgm.bench.instances import TaskInstance
from dgm.evolve.items import AgentOutcome, EvalItem, EvalOutcome
from dgm.evolve.loop import Evolution
from dgm.evolve.tasks import TaskPlan
from dgm.science.verifiers import NAMES, TaskFacts, Verdict, gate, patch_sanity, self_edit_diff, verdicts
from dgm.scheduler.states import ChildState, EvalPlan, Gate, Gated, Phase
from dgm.scheduler.transitions import resume, start, transition
from dgm.scheduler.verdicts import Verdict as Fate, failed_verifier, verdict_of
from tests.evolve.test_loop_scheduler import TASKS, CannedWorld, make_session, new_file, statuses
from tests.scheduler.test_transitions import THROUGH_SMOKE, task
from tests.science.conftest import results

GATE = ("own_tests", "static_checks", "patch_sanity")
PLAN = EvalPlan(stages=(("a", "b"), ("c", "d", "e")), smoke="a", gate=0.5, verifiers=GATE)
OPEN = EvalPlan(smoke="a", open=True, verifiers=GATE)


def feed(events: list, plan: EvalPlan) -> tuple[ChildState, list]:
    state, work = start(ChildState("c0", "0"), plan)
    for event in events:
        state = ChildState.from_json(json.loads(json.dumps(state.to_json())))
        state, work = transition(state, event, plan)
    return state, work


# ---- the transitions -------------------------------------------------------------------------------------
def test_the_gate_runs_after_stage_zero_and_after_each_passed_stage() -> None:
    state, work = feed(THROUGH_SMOKE, PLAN)
    assert state.phase is Phase.GATING and work == [Gate("c0", "5", 0)]
    assert resume(state, PLAN) == [Gate("c0", "5", 0)]   # a restarted run asks the gate again
    state, work = feed(THROUGH_SMOKE + [Gated()], PLAN)
    assert state.phase is Phase.EVALUATING and state.stage == 1 and len(work) == 2
    state, work = feed(THROUGH_SMOKE + [Gated(), task("a", True), task("b", False)], PLAN)
    assert state.phase is Phase.GATING and work == [Gate("c0", "5", 1)]
    state, _ = feed(THROUGH_SMOKE + [Gated(), task("a", True), task("b", False), Gated()], PLAN)
    assert state.phase is Phase.EVALUATING and state.stage == 2
    last = [task("c", True), task("d", False), task("e", False)]
    state, _ = feed(THROUGH_SMOKE + [Gated(), task("a", True), task("b", False), Gated()] + last, PLAN)
    assert state.phase is Phase.GATING and state.stage == 2
    state, _ = feed(THROUGH_SMOKE + [Gated(), task("a", True), task("b", False), Gated()] + last + [Gated()], PLAN)
    assert state.verdict is Fate.ADMITTED
    # below the score gate: rejected as before, the verifiers are not asked
    state, _ = feed(THROUGH_SMOKE + [Gated(), task("a", False), task("b", False)], PLAN)
    assert state.verdict is Fate.BELOW_GATE


@pytest.mark.parametrize("name", NAMES)
def test_a_failed_verifier_rejects_with_a_verdict_naming_it(name: str) -> None:
    for prefix in ([], [Gated(), task("a", True), task("b", True)]):
        state, work = feed(THROUGH_SMOKE + prefix + [Gated(name, "the evidence")], PLAN)
        assert state.verdict is failed_verifier(name) and work == []
        assert state.verdict.status == f"rejected:failed {name}" and state.detail == "the evidence"
        assert verdict_of(state.verdict.status) is state.verdict


def test_open_admission_and_admit_below_gate_go_through_the_gate() -> None:
    state, work = feed(THROUGH_SMOKE, OPEN)
    assert state.phase is Phase.GATING and work == [Gate("c0", "5", 0)]
    assert feed(THROUGH_SMOKE + [Gated()], OPEN)[0].phase is Phase.OPEN
    assert feed(THROUGH_SMOKE + [Gated("patch_sanity")], OPEN)[0].verdict is Fate.FAILED_PATCH_SANITY
    lenient = EvalPlan(stages=PLAN.stages, smoke="a", gate=0.5, below_gate="admit", verifiers=GATE)
    state, _ = feed(THROUGH_SMOKE + [Gated(), task("a", False), task("b", False)], lenient)
    assert state.phase is Phase.GATING
    state, _ = feed(THROUGH_SMOKE + [Gated(), task("a", False), task("b", False), Gated()], lenient)
    assert state.verdict is Fate.ADMITTED and state.detail == "below gate"
    # no verifiers configured: the stages alone decide, as before the gate had any
    assert feed(THROUGH_SMOKE, EvalPlan(smoke="a", open=True))[0].phase is Phase.OPEN


@pytest.mark.parametrize("name", NAMES)
def test_the_gate_is_the_conjunction_of_the_configured_verifiers(name: str) -> None:
    row = [Verdict(n, False if n == name else (None if n == "wider_tests" else True), [f"{n} said so"])
           for n in NAMES]
    assert gate(row, NAMES).name == name                    # every verifier can reject
    assert gate(row, [n for n in NAMES if n != name]) is None   # one not in the gate cannot
    assert gate(row, []) is None
    nothing = [Verdict(n, None, []) for n in NAMES]
    assert gate(nothing, NAMES) is None                      # nothing to judge is no reason to reject


# ---- patch sanity on a real archive ------------------------------------------------------------------------
FACTS = {"o__calc-1": TaskFacts("o/calc", ("tests/test_arith.py::test_divide_fraction", "tests/test_arith.py::test_add"),
                             ("tests/test_arith.py::test_divide_fraction",))}


def child_with(make_archive, tmp_path: Path, files: dict[str, str]) -> tuple[Any, Any]:
    archive = make_archive(results("ab"), [])
    tree = tmp_path / f"child{len(list(tmp_path.glob('child*')))}"
    tree.mkdir()
    (tree / "agent.py").write_text("print('hi')\n")
    for name, text in files.items():
        (tree / name).write_text(text)
    return archive, archive.add_node("0", tree, status="pending", results={})


def test_patch_sanity_reads_the_self_edit_for_task_ids_and_hidden_test_names(make_archive, tmp_path: Path) -> None:
    archive, child = child_with(make_archive, tmp_path, {"focus.py": 'KNOWN = ["test_divide_fraction"]\n'})
    v = patch_sanity(child, archive.artifacts_dir(child.id), FACTS, self_edit_diff(archive, child))
    assert v.passed is False and v.evidence == ["self-edit: the agent's code names 'test_divide_fraction' (of o__calc-1)"]
    archive, child = child_with(make_archive, tmp_path, {"notes.py": "# seen on o__calc-1 before\n"})
    assert patch_sanity(child, archive.artifacts_dir(child.id), FACTS, self_edit_diff(archive, child)).passed is False
    # a name inside a longer identifier, or a passing test's short name, is not a literal of the task
    archive, child = child_with(make_archive, tmp_path, {"x.py": "def test_added(): pass\ntest_add = 1\n"
                                                                "o__calc-10 = 'test_divide_fractions'\n"})
    v = patch_sanity(child, archive.artifacts_dir(child.id), FACTS, self_edit_diff(archive, child))
    assert v.passed is True and v.evidence == []
    # through verdicts(): the archive's own diff of the two trees is what is read
    archive, child = child_with(make_archive, tmp_path, {"focus.py": "if name == 'o__calc-1': return\n"})
    row = {v.name: v for v in verdicts(archive, child, FACTS)}
    assert row["patch_sanity"].passed is False and "'o__calc-1'" in row["patch_sanity"].evidence[0]


def test_patch_sanity_on_task_patches(make_archive, tmp_path: Path) -> None:
    archive, child = child_with(make_archive, tmp_path, {})
    archive.update_node(child.id, results={"o__calc-1": {"resolved": True, "empty_patch": False, "stage": 1}})
    child = archive.get(child.id)
    d = archive.artifacts_dir(child.id) / "tasks" / "o__calc-1"
    d.mkdir(parents=True)

    def judge(patch: str) -> Verdict:
        (d / "patch.diff").write_text(patch)
        return patch_sanity(child, archive.artifacts_dir(child.id), FACTS)

    assert judge(new_file("calc/arith.py", "x = 1")).passed is True
    v = judge(new_file("tests/test_repro.py", "def test_repro(): pass"))   # a new test file: noted, dropped
    assert v.passed is True and v.evidence == ["o__calc-1: adds tests/test_repro.py (a test file, dropped before grading)"]
    edit = "diff --git a/tests/t.py b/tests/t.py\n--- a/tests/t.py\n+++ b/tests/t.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    assert judge(edit).evidence == ["o__calc-1: edits tests/t.py (a test file)"]
    assert judge(new_file("setup.cfg", "[tool:pytest]")).passed is False   # the runner's configuration
    big = "diff --git a/big.py b/big.py\nnew file mode 100644\n--- /dev/null\n+++ b/big.py\n@@ -0,0 +1,2001 @@\n" + \
        "".join(f"+x{i} = {i}\n" for i in range(2001))
    assert judge(big).evidence == ["o__calc-1: 2001 added lines (bound 2000)"]
    assert judge(new_file("calc/arith.py", "SKIP = 'test_divide_fraction'")).evidence == \
        ["o__calc-1: the patch names 'test_divide_fraction'"]


# ---- the loop over a canned executor: every policy admits through the gate ------------------------------------
HIDDEN = {t: f"tests/test_{t}.py::test_hidden_{t}_case" for t in TASKS}
NAMES_IT = f"names test_hidden_t1_case"   # a child's kind: its self-edit writes t1's hidden test name


class LeakyWorld(CannedWorld):
    """A "leaky" child solves every task with patches that name a hidden test."""

    def answer(self, item: Any) -> Any:
        out = super().answer(item)
        if isinstance(item, EvalItem) and item.grade and self.kind(item.tree) == "leaky":
            patch = new_file("calc.py", f"SKIP = {HIDDEN[item.instance_id].rsplit('::')[-1]!r}")
            return EvalOutcome(item.instance_id, item.stage, AgentOutcome("submitted", patch, None, {}, "", 0.1),
                               resolved=True, graded=True, patch_applied=True)
        return out


def gated_run(tmp: Path, kinds: list[str], policy: str, verifiers: list[str] | None = None, **params: Any):
    session = make_session(tmp, policy=policy, iterations=len(kinds), children=1 if policy != "dgm" else len(kinds),
                           **params)
    if verifiers is not None:
        session.config.gate.verifiers = verifiers
    inst = {t: TaskInstance(t, "org/repo", "1.0", "abc", f"problem {t}", "", "", [HIDDEN[t]], []) for t in TASKS}
    session.plan = TaskPlan(inst, session.plan.stages, session.plan.smoke)
    world = LeakyWorld(kinds, per_iteration=len(kinds) if policy == "dgm" else 1)
    Evolution(session, executor=world).run()
    return session, world


def graded_of(world: CannedWorld, session: Any, key: str) -> list[str]:
    node = next(n for n in session.archive.nodes() if n.meta.get("key") == key)
    return [i.instance_id for i in world.items if isinstance(i, EvalItem) and i.grade and i.node_id == node.id]


@pytest.mark.parametrize("policy", ["dgm", "hgm", "sequential"])
def test_every_policy_admits_only_through_the_gate(tmp_path: Path, policy: str) -> None:
    params = {"min_tasks": 2, "delta": 0.05} if policy == "sequential" else {}
    session, world = gated_run(tmp_path / "on", ["good", NAMES_IT], policy, **params)
    got = statuses(session)
    assert got["c0"] == "admitted" and got["c1"] == "rejected:failed patch_sanity", got
    assert graded_of(world, session, "c1") == []   # rejected after stage 0: no task spent on it
    node = next(n for n in session.archive.nodes() if n.meta.get("key") == "c1")
    row = {v["name"]: v for v in json.loads((session.archive.artifacts_dir(node.id) / "verifiers.json").read_text())}
    assert row["patch_sanity"]["passed"] is False and row["patch_sanity"]["gate"] is True
    assert "test_hidden_t1_case" in row["patch_sanity"]["evidence"][0]
    log = (session.run_dir / "log.txt").read_text()
    assert f"node {node.id}: patch_sanity failed after stage 0" in log
    # the same run without the gate's verifiers: the open policies admit it after stage 0
    session, world = gated_run(tmp_path / "off", ["good", NAMES_IT], policy, verifiers=[], **params)
    assert statuses(session)["c1"] == ("rejected:below gate" if policy == "dgm" else "admitted")


def test_a_graded_patch_naming_a_hidden_test_stops_the_child_after_its_stage(tmp_path: Path) -> None:
    session, world = gated_run(tmp_path, ["leaky"], "dgm")
    assert statuses(session)["c0"] == "rejected:failed patch_sanity"
    assert sorted(graded_of(world, session, "c0")) == ["t1", "t2"]   # stage 2 never asked
    session, world = gated_run(tmp_path / "off", ["leaky"], "dgm", verifiers=["own_tests"])
    assert statuses(session)["c0"] == "admitted"


def test_an_unknown_gate_verifier_is_a_one_line_error(tmp_path: Path) -> None:
    from tests.science.test_verifiers import evolve

    out = evolve(tmp_path, 'gate.verifiers=["patch_sanity", "oracle"]')
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "gate.verifiers: no verifier named 'oracle'" in out.stderr and "patch_sanity" in out.stderr
    assert not (tmp_path / "run" / "archive.sqlite").exists()
