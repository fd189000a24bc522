"""The life of one node as a generator: it yields batches of work items and gets their outcomes back.

Every step is persisted by the loop thread as it happens (archive rows, artifacts, slot files), so
a job re-created after a crash continues from its last persisted step.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Generator

from dgm.evolve import records
from dgm.evolve.diagnose import build_messages
from dgm.evolve.items import CheckItem, DiagnoseItem, EvalItem, EvalOutcome, SelfModifyItem
from dgm.evolve.selfmod import PatchRefused, apply_patch
from dgm.science.hooks import on_verdict

if TYPE_CHECKING:
    from dgm.evolve.loop import Evolution

Steps = Generator[list, list, None]
CRASHED = ("crashed", "error", "timeout", "killed")


class Job:
    """Shared by the root's evaluation and a child's life: staged task evaluation."""

    def __init__(self, loop: "Evolution") -> None:
        self.loop = loop
        self.node_id: str | None = None
        self.halted: str | None = None      # "over budget" when a run was cut by the budget
        self.gen: Steps = self.steps()

    def steps(self) -> Steps:
        raise NotImplementedError
        yield []

    def label(self) -> str:
        return f"node {self.node_id}"

    # ---- outcomes, as they arrive (loop thread) --------------------------------------------
    def on_outcome(self, item: Any, outcome: Any) -> None:
        if isinstance(item, EvalItem) and item.grade:
            self._task_result(item, outcome)
        elif isinstance(item, EvalItem):
            records.write_eval(self.artifacts / "smoke" / item.instance_id, outcome)
            self._charge(outcome.agent.seconds, outcome.agent.usage)
        elif isinstance(item, CheckItem):
            records.write_check(self.artifacts / "stage0", outcome)
            self._charge(outcome.seconds, {})

    def _task_result(self, item: EvalItem, outcome: EvalOutcome) -> None:
        if self.loop.cut_by_budget(outcome.agent, item.account):
            self.halted = "over budget"  # not a verdict on the agent: the relay refused its calls
            return
        if outcome.agent.status == "crashed" and outcome.agent.error and self.node_id != "0":
            # The engine (Docker, grading) failed, not the agent: no score from it; the child is
            # rejected "crashed" with the error in its artifacts.
            self.loop.log(f"{self.label()}: engine failure on {item.instance_id}: "
                          f"{outcome.agent.error.splitlines()[0][:200]}")
            records.write_eval(self.artifacts / "tasks" / item.instance_id, outcome)
            self.halted = "crashed"
            return
        records.write_eval(self.artifacts / "tasks" / item.instance_id, outcome)
        self.loop.archive.record_result(item.node_id, item.instance_id, outcome.result())
        self._charge(outcome.agent.seconds + outcome.grade_seconds, outcome.agent.usage)
        if outcome.tampering and self.node_id != "0":
            # A child whose patches reach into the test runner is bred for fooling the grader:
            # stop spending on it, whatever its other tasks would score.
            self.loop.log(f"{self.label()}: runner tampering on {item.instance_id}: {outcome.tampering[0]}")
            self.halted = "runner tampering"

    def _charge(self, seconds: float, usage: dict) -> None:
        self.loop.charge_node(self.node_id, seconds, usage)

    @property
    def artifacts(self) -> Path:
        return self.loop.archive.artifacts_dir(self.node_id)

    # ---- staged evaluation -------------------------------------------------------------------
    def evaluate_stages(self, *, child: bool) -> Generator[list, list, str]:
        """Run stages 1..n gated on the previous stage; returns "passed", "below gate", "empty patches"."""
        loop, plan = self.loop, self.loop.session.plan
        tree = loop.tree_of(self.node_id)
        for number, ids in enumerate(plan.stages, start=1):
            node = loop.archive.get(self.node_id)
            todo = [iid for iid in ids if iid not in node.results]
            if todo:
                yield [loop.eval_item(self.node_id, tree, iid, number) for iid in todo]
                if self.halted:
                    return self.halted
            node = loop.archive.get(self.node_id)
            got = [node.results[iid] for iid in ids if iid in node.results]
            score = sum(1 for r in got if r.get("resolved")) / len(ids)
            loop.archive.update_node(self.node_id, stage_scores={**node.stage_scores, str(number): score})
            loop.log(f"{self.label()}: stage {number} score {score:.3f} over {len(got)} task(s)")
            if child and number == 1 and got and all(r.get("empty_patch") for r in got):
                return "empty patches"
            if number < len(plan.stages) and score < loop.config.dataset.gate:
                return "below gate"
        return "passed"


class RootJob(Job):
    """Iteration 0: the seed is evaluated like any child (without stage 0) so selection has a score."""

    def __init__(self, loop: "Evolution") -> None:
        super().__init__(loop)
        self.node_id = "0"

    def label(self) -> str:
        return "root node 0"

    def steps(self) -> Steps:
        verdict = yield from self.evaluate_stages(child=False)
        if self.halted:
            return
        node = self.loop.archive.get("0")
        self.loop.archive.update_node("0", meta={**node.meta, "evaluated": True, "stages": verdict})
        self.loop.log(f"root node 0 evaluated: score {node.score}")


class ChildJob(Job):
    """One child slot of an iteration: diagnose, self-modify, stage 0, stages, verdict."""

    def __init__(self, loop: "Evolution", iteration: int, slot: int, slots: int, parent_id: str,
                 node_id: str | None = None) -> None:
        self.iteration, self.slot, self.slots, self.parent_id = iteration, slot, slots, parent_id
        super().__init__(loop)
        self.node_id = node_id
        self.key = f"{iteration}.{slot}"
        self.slot_dir = loop.session.run_dir / "iterations" / str(iteration) / f"slot-{slot}"
        self.account = f"slot:{self.key}"

    def label(self) -> str:
        return f"node {self.node_id}" if self.node_id else f"child {self.key} of node {self.parent_id}"

    def steps(self) -> Steps:
        loop = self.loop
        if self.node_id is None:
            done = yield from self.make_child()
            if not done:
                return
        node = loop.archive.get(self.node_id)
        if not node.meta.get("stage0"):
            verdict = yield from self.stage0()
            if verdict != "passed":
                if not self.halted:
                    self.reject(verdict)
                return
        verdict = yield from self.evaluate_stages(child=True)
        if self.halted:
            return
        if verdict == "below gate" and loop.config.dataset.below_gate == "admit":
            verdict = "passed"
        if verdict == "passed":
            loop.archive.update_node(self.node_id, status="admitted")
            loop.log(f"node {self.node_id} admitted (parent {self.parent_id}, score "
                     f"{loop.archive.get(self.node_id).score})")
            on_verdict(loop.archive, self.node_id, True, loop.session.plan.instances, loop.log)
        else:
            self.reject(verdict)

    # ---- diagnosis and self-modification ------------------------------------------------------
    def make_child(self) -> Generator[list, list, bool]:
        loop = self.loop
        diagnosis = records.read_json(self.slot_dir / "diagnosis.json")
        if diagnosis is None:
            parent = loop.archive.get(self.parent_id)
            messages = build_messages(loop.tree_of(self.parent_id), loop.archive.artifacts_dir(self.parent_id),
                                      parent.results, loop.problems(), iteration=self.iteration, slot=self.slot,
                                      slots=self.slots, parent_id=self.parent_id)
            item = DiagnoseItem(self.key, self.parent_id, messages, loop.config.evolve.diagnose_retries,
                                self.account)
            (out,) = yield [item]
            records.write_json(self.slot_dir / "diagnose-answers.json",
                               {"answers": out.answers, "error": out.error, "attempts": out.attempts})
            if out.diagnosis is None:
                if (out.error or "").startswith("over budget") or loop.over_budget():
                    self.halted = "over budget"
                    return False
                self.finish_without_change("diagnosis failed", None, {"error": out.error})
                return False
            diagnosis = out.diagnosis
            records.write_json(self.slot_dir / "diagnosis.json", diagnosis)
        run = records.read_json(self.slot_dir / "selfmod" / "run.json")
        parent_tree = loop.tree_of(self.parent_id)
        if run is None:
            out_dir = self.slot_dir / "selfmod"
            if out_dir.exists():
                import shutil

                shutil.rmtree(out_dir)  # a run cut short before: start clean
            item = SelfModifyItem(self.key, self.parent_id, parent_tree, diagnosis["problem_statement"],
                                  loop.agent_budget("selfmod"), loop.box(), self.account, out_dir=out_dir)
            (out,) = yield [item]
            if loop.cut_by_budget(out, self.account):
                (out_dir / "run.json").unlink(missing_ok=True)
                self.halted = "over budget"
                return False
            records.write_agent(self.slot_dir / "selfmod", out)
            run = records.read_json(self.slot_dir / "selfmod" / "run.json")
        patch = (self.slot_dir / "selfmod" / "patch.diff").read_text(encoding="utf-8")
        # run.json is the agent runner's record (one schema): its reason says why a run was not submitted
        info = {"selfmod_status": run["status"],
                "selfmod_error": (run.get("reason") or None) if run["status"] != "submitted" else None}
        if not patch.strip():
            self.finish_without_change("crashed" if run["status"] in CRASHED else "no change", diagnosis, info)
            return False
        dest = loop.session.work_dir / "children" / self.key
        if dest.exists():
            import shutil

            shutil.rmtree(dest)
        try:
            tree = apply_patch(parent_tree, patch, dest)
        except PatchRefused as exc:
            self.finish_without_change(exc.reason, diagnosis, {**info, "patch_error": str(exc)})
            return False
        self.add(tree, "pending", diagnosis, info)
        if loop.archive.tree_hash(self.node_id) == loop.archive.tree_hash(self.parent_id):
            self.reject("no change")
            return False
        return True

    def finish_without_change(self, reason: str, diagnosis: dict | None, info: dict) -> None:
        """Record the slot as a node holding the parent's tree, rejected with the reason."""
        self.add(self.loop.tree_of(self.parent_id), f"rejected:{reason}", diagnosis, info)
        self.loop.log(f"node {self.node_id} rejected: {reason} (parent {self.parent_id})")
        self.loop.count_verdict(reason)

    def add(self, tree: Path, status: str, diagnosis: dict | None, info: dict) -> None:
        loop = self.loop
        meta = {"iteration": self.iteration, "slot": self.slot, **info}
        node = loop.archive.add_node(self.parent_id, tree, status=status, diagnosis=diagnosis,
                                     improvement_task=(diagnosis or {}).get("problem_statement"), meta=meta)
        self.node_id = node.id
        dest = loop.archive.artifacts_dir(node.id)
        if diagnosis is not None:
            records.write_json(dest / "diagnosis.json", diagnosis)
        records.copy_artifacts(self.slot_dir / "selfmod", dest / "selfmod")
        answers = self.slot_dir / "diagnose-answers.json"
        if answers.is_file():
            records.write_text(dest / "diagnose-answers.json", answers.read_text(encoding="utf-8"))
        slot = loop.session.gateway.ledger.usage(self.account)
        loop.charge_node(node.id, 0.0, {"tokens_in": slot.prompt_tokens, "tokens_out": slot.completion_tokens,
                                        "cost_usd": slot.usd})
        if status == "pending":
            loop.log(f"node {node.id} created from parent {self.parent_id} (iteration {self.iteration})")

    # ---- stage 0 ------------------------------------------------------------------------------------
    def stage0(self) -> Generator[list, list, str]:
        loop = self.loop
        tree = loop.tree_of(self.node_id)
        (check,) = yield [CheckItem(self.node_id, tree, loop.config.evolve.own_tests, loop.box(),
                                    timeout=loop.check_timeout())]
        if check.error:
            return "crashed"
        if not check.compiled:
            return "does not compile"
        if not check.tests_passed:
            return "own tests fail"
        smoke_id = loop.session.plan.smoke
        smoke_item = loop.eval_item(self.node_id, tree, smoke_id, 0, grade=False)
        (smoke,) = yield [smoke_item]
        if loop.cut_by_budget(smoke.agent, smoke_item.account):
            self.halted = "over budget"
            return "over budget"
        if smoke.agent.status == "crashed" and not smoke.agent.error:
            # It still edits, but breaks the agent ABI (e.g. an unusable trajectory.json): keep why.
            node = loop.archive.get(self.node_id)
            loop.archive.update_node(self.node_id, meta={**node.meta, "crash": smoke.agent.reason[:500]})
            loop.log(f"node {self.node_id}: smoke run crashed: {smoke.agent.reason[:300]}")
            return "crashed"
        if smoke.empty_patch:
            return "crashed" if smoke.agent.status in CRASHED else "empty patches"
        if smoke.tampering:
            loop.log(f"{self.label()}: runner tampering in its smoke patch: {smoke.tampering[0]}")
            return "runner tampering"
        node = loop.archive.get(self.node_id)
        loop.archive.update_node(self.node_id, meta={**node.meta, "stage0": {"compiled": True, "own_tests": True,
                                                                             "smoke": smoke_id}},
                                 stage_scores={**node.stage_scores, "0": 1.0})
        return "passed"

    def reject(self, reason: str) -> None:
        self.loop.archive.update_node(self.node_id, status=f"rejected:{reason}")
        self.loop.log(f"node {self.node_id} rejected: {reason} (parent {self.parent_id})")
        on_verdict(self.loop.archive, self.node_id, False, self.loop.session.plan.instances, self.loop.log)
        self.loop.count_verdict(reason)
