"""The real run's side of the scheduler: work items for Docker, and what their outcomes mean to the archive.

The scheduler (dgm.scheduler) decides; this host does the I/O a decision needs: it builds the
executor items (diagnosis conversations, sandboxed agent runs, stage-0 checks, graded task runs),
writes each outcome's artifacts and results, applies a child's patch on the host (in Python, no
git), and writes a child's verdict as its archive status. It holds only what that work needs: the
session, the result cache and the log; no loop.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable

from dgm.archive.node import Node
from dgm.errors import DgmError
from dgm.evolve import records
from dgm.evolve.diagnose import build_messages
from dgm.evolve.items import (AgentBudget, AgentOutcome, BoxLimits, CheckItem, CheckOutcome, DiagnoseItem,
                              DiagnoseOutcome, EvalItem, EvalOutcome, SelfModifyItem)
from dgm.evolve.selfmod import PatchRefused, apply_patch
from dgm.science import verifiers as checks
from dgm.science.hooks import on_verdict
from dgm.scheduler.states import (Check, ChildState, Committed, Diagnose, Evaluate, Gated, Halt, Phase, Refused,
                                  SelfModify, Work)
from dgm.scheduler.transitions import CRASHED, engine_crash
from dgm.scheduler.verdicts import Verdict, verdict_of

# Verdicts whose archive status keeps the refusal's own words after the verdict ("forbidden name in tree: HEAD").
QUALIFIED = (Verdict.FORBIDDEN_NAME, Verdict.PATCH_REFUSED)


def status_of(state: ChildState) -> str:
    """The archive status a child's state is written as."""
    if not state.done:
        return "admitted" if state.phase is Phase.OPEN else "pending"
    assert state.verdict is not None
    if state.verdict in QUALIFIED and state.detail:
        return f"{state.verdict.status}: {state.detail}"
    return state.verdict.status


def refusal(exc: PatchRefused) -> tuple[Verdict, str]:
    """The verdict of a refused patch and the words its status keeps."""
    reason = exc.reason
    if reason.startswith(Verdict.FORBIDDEN_NAME.value):
        return Verdict.FORBIDDEN_NAME, reason[len(Verdict.FORBIDDEN_NAME.value):].lstrip(": ")
    return Verdict.PATCH_REFUSED, "" if reason == Verdict.PATCH_REFUSED.value else reason


class RunHost:
    """Host protocol of dgm.scheduler for a Docker run. `per_iteration` numbers children as the dgm
    policy's iterations and slots (k children an iteration); other policies number them one by one."""

    def __init__(self, session: Any, cache: Any, *, per_iteration: int, log: Callable[[str], None],
                 count_verdict: Callable[[str], None]) -> None:
        self.session, self.cache = session, cache
        self.config, self.archive = session.config, session.archive
        self.per_iteration = max(1, per_iteration)
        self.log, self.count_verdict = log, count_verdict
        self._trees: dict[str, Path] = {}
        self._problems: dict[str, str] | None = None
        self._facts: dict[str, checks.TaskFacts] | None = None
        self._items: dict[Work, Any] = {}
        self.node_of_key = {str(n.meta["key"]): n.id for n in self.archive.nodes() if "key" in n.meta}

    # ---- where a child's files live -----------------------------------------------------------------------
    def place(self, key: str) -> tuple[int, int]:
        """(iteration, slot) of a child key "c<n>" (the n-th child of the run, from 0)."""
        n = int(key[1:])
        return n // self.per_iteration + 1, n % self.per_iteration + 1

    def slot_dir(self, key: str) -> Path:
        iteration, slot = self.place(key)
        return self.session.run_dir / "iterations" / str(iteration) / f"slot-{slot}"

    def account(self, key: str) -> str:
        iteration, slot = self.place(key)
        return f"slot:{iteration}.{slot}"

    def label(self, state: ChildState) -> str:
        if state.root:
            return "root node 0"
        if state.node_id:
            return f"node {state.node_id}"
        iteration, slot = self.place(state.key)
        return f"child {iteration}.{slot} of node {state.parent_id}"

    # ---- Host protocol: work -> item ---------------------------------------------------------------------
    def item(self, work: Work, state: ChildState) -> Any:
        item = self._make(work, state)
        self._items[work] = item
        return item

    def _make(self, work: Work, state: ChildState) -> Any:
        if isinstance(work, Diagnose):
            iteration, slot = self.place(work.key)
            parent = self.archive.get(work.parent_id)
            messages = build_messages(self.tree_of(work.parent_id), self.archive.artifacts_dir(work.parent_id),
                                      parent.results, self.problems(), iteration=iteration, slot=slot,
                                      slots=self.per_iteration, parent_id=work.parent_id)
            return DiagnoseItem(f"{iteration}.{slot}", work.parent_id, messages,
                                self.config.evolve.diagnose_retries, self.account(work.key))
        if isinstance(work, SelfModify):
            iteration, slot = self.place(work.key)
            out_dir = self.slot_dir(work.key) / "selfmod"
            if out_dir.exists():
                shutil.rmtree(out_dir)   # a run cut short before: start clean
            return SelfModifyItem(f"{iteration}.{slot}", work.parent_id, self.tree_of(work.parent_id),
                                  work.problem_statement, self.agent_budget("selfmod"), self.box(),
                                  self.account(work.key), out_dir=out_dir)
        if isinstance(work, Check):
            return CheckItem(work.node_id, self.tree_of(work.node_id), self.config.evolve.own_tests, self.box(),
                             timeout=self.check_timeout())
        if isinstance(work, Evaluate):
            return self.eval_item(work.node_id, work.instance_id, work.stage, grade=work.graded)
        raise TypeError(f"no item for {type(work).__name__}")

    def eval_item(self, node_id: str, instance_id: str, stage: int, *, grade: bool = True) -> EvalItem:
        where = ("tasks" if grade else "smoke") + "/" + instance_id
        out_dir = self.archive.artifacts_dir(node_id) / where
        if out_dir.exists():
            shutil.rmtree(out_dir)  # leftovers of a run cut short: this run starts clean
        plan = self.session.plan
        # One ledger account per agent run: runs of one node proceed in parallel.
        return EvalItem(node_id, self.tree_of(node_id), plan.instances[instance_id],
                        self.session.environments[instance_id], stage, self.agent_budget("task"), self.box(),
                        f"node:{node_id}:{'task' if grade else 'smoke'}:{instance_id}", grade=grade,
                        out_dir=out_dir, verify=self.config.evolve.self_verify,
                        wider="wider_tests" in self.config.gate.verifiers)

    # ---- Host protocol: outcome -> event -------------------------------------------------------------------
    def record(self, work: Work, state: ChildState, outcome: Any) -> Any:
        item = self._items.pop(work, None)
        if isinstance(work, Diagnose):
            return self._diagnosed(work, outcome)
        if isinstance(work, SelfModify):
            return self._modified(work, item, outcome)
        if isinstance(work, Check):
            records.write_check(self.archive.artifacts_dir(work.node_id) / "stage0", outcome)
            self.charge_node(work.node_id, outcome.seconds, {})
            if not outcome.error:   # an engine failure says nothing about the child: never cached
                self._store(item, outcome)
            return outcome
        if isinstance(work, Evaluate) and not work.graded:
            return self._smoked(work, state, item, outcome)
        if isinstance(work, Evaluate):
            return self._graded(work, state, item, outcome)
        raise TypeError(f"no record for {type(work).__name__}")

    def _diagnosed(self, work: Diagnose, out: DiagnoseOutcome) -> Any:
        d = self.slot_dir(work.key)
        records.write_json(d / "diagnose-answers.json",
                           {"answers": out.answers, "error": out.error, "attempts": out.attempts})
        if out.diagnosis is None:
            if (out.error or "").startswith("over budget") or self.over_budget():
                return Halt(Verdict.OVER_BUDGET)
            return out
        records.write_json(d / "diagnosis.json", out.diagnosis)
        return out

    def _modified(self, work: SelfModify, item: Any, out: AgentOutcome) -> Any:
        d = self.slot_dir(work.key) / "selfmod"
        if self.cut_by_budget(out, self.account(work.key)):
            (d / "run.json").unlink(missing_ok=True)
            return Halt(Verdict.OVER_BUDGET)
        records.write_agent(d, out)
        return out

    def _smoked(self, work: Evaluate, state: ChildState, item: Any, out: EvalOutcome) -> Any:
        records.write_eval(self.archive.artifacts_dir(work.node_id) / "smoke" / work.instance_id, out)
        self.charge_node(work.node_id, out.agent.seconds, out.agent.usage)
        if item is not None and self.cut_by_budget(out.agent, item.account):
            return Halt(Verdict.OVER_BUDGET)
        self._store(item, out)
        if out.agent.status == "crashed" and not out.agent.error:
            # It still edits, but breaks the agent ABI (e.g. an unusable trajectory.json): keep why.
            self._meta(work.node_id, crash=out.agent.reason[:500])
            self.log(f"node {work.node_id}: smoke run crashed: {out.agent.reason[:300]}")
            return Refused(Verdict.CRASHED, out.agent.reason[:500])
        if out.empty_patch:
            return out   # the transition says "empty patches" or "crashed"
        if out.tampering:
            self.log(f"node {work.node_id}: runner tampering in its smoke patch: {out.tampering[0]}")
            return Refused(Verdict.RUNNER_TAMPERING, out.tampering[0][:500])
        node = self.archive.get(work.node_id)
        self.archive.update_node(work.node_id, meta={**node.meta, "stage0": {"compiled": True, "own_tests": True,
                                                                             "smoke": work.instance_id}},
                                 stage_scores={**node.stage_scores, "0": 1.0})
        return out

    def _graded(self, work: Evaluate, state: ChildState, item: Any, out: EvalOutcome) -> Any:
        where = self.archive.artifacts_dir(work.node_id) / "tasks" / work.instance_id
        if item is not None and self.cut_by_budget(out.agent, item.account):
            return Halt(Verdict.OVER_BUDGET)   # not a verdict on the agent: the relay refused its calls
        records.write_eval(where, out)
        if engine_crash(state, out):
            # The engine (Docker, grading) failed, not the agent: no score from it.
            self.log(f"{self.label(state)}: engine failure on {work.instance_id}: "
                     f"{(out.agent.error or '').splitlines()[0][:200] if out.agent.error else ''}")
            return out
        self.archive.record_result(work.node_id, work.instance_id, out.result())
        self.charge_node(work.node_id, out.agent.seconds + out.grade_seconds, out.agent.usage)
        if out.agent.status != "crashed":
            self._store(item, out)
        self._stage_score(work, state)
        if out.tampering and not state.root:
            # A child whose patches reach into the test runner is bred for fooling the grader:
            # stop spending on it, whatever its other tasks would score.
            self.log(f"{self.label(state)}: runner tampering on {work.instance_id}: {out.tampering[0]}")
            return Refused(Verdict.RUNNER_TAMPERING, out.tampering[0][:500])
        return out

    def _stage_score(self, work: Evaluate, state: ChildState) -> None:
        """Once every task of a gated stage has a result, write the stage's score (the report reads it)."""
        stages = self.session.plan.stages
        if state.phase is not Phase.EVALUATING or not 1 <= work.stage <= len(stages):
            return
        ids = stages[work.stage - 1]
        node = self.archive.get(work.node_id)
        got = [node.results[i] for i in ids if i in node.results]
        if len(got) < len(ids):
            return
        score = sum(1 for r in got if r.get("resolved")) / len(ids)
        self.archive.update_node(work.node_id, stage_scores={**node.stage_scores, str(work.stage): score})
        self.log(f"{self.label(state)}: stage {work.stage} score {score:.3f} over {len(got)} task(s)")

    def recorded(self, work: Work) -> Any:
        """An outcome a previous start already recorded (resume), or None to ask again."""
        if isinstance(work, Evaluate) and work.graded:
            result = self.archive.get(work.node_id).results.get(work.instance_id)
            if result is None:
                return None
            agent = AgentOutcome(result.get("status", "submitted"), "recorded patch\n", None, {}, "", 0.0)
            return EvalOutcome(work.instance_id, work.stage, agent, resolved=bool(result.get("resolved")),
                               graded=True, patch_applied=bool(result.get("patch_applied", True)),
                               tampering=list(result.get("tampering") or []))
        if isinstance(work, Diagnose):
            diagnosis = records.read_json(self.slot_dir(work.key) / "diagnosis.json")
            return DiagnoseOutcome(diagnosis, None, 0, [], {}, 0.0) if isinstance(diagnosis, dict) else None
        if isinstance(work, SelfModify):
            d = self.slot_dir(work.key) / "selfmod"
            run = records.read_json(d / "run.json")
            if not isinstance(run, dict) or not (d / "patch.diff").is_file():
                return None
            return AgentOutcome(str(run.get("status", "")), (d / "patch.diff").read_text(encoding="utf-8"), None,
                                {}, "", 0.0, error=run.get("error"), reason=str(run.get("reason") or ""))
        return None

    # ---- Host protocol: the commit (host work, no slot) ---------------------------------------------------
    def commit(self, state: ChildState) -> Any:
        if state.key in self.node_of_key:   # committed before a crash: the node is there
            node_id = self.node_of_key[state.key]
            return Committed(node_id, same_tree=self._same_tree(node_id, state.parent_id or "0"))
        parent_id = state.parent_id or "0"
        d = self.slot_dir(state.key)
        patch = (d / "selfmod" / "patch.diff").read_text(encoding="utf-8")
        dest = self.session.work_dir / "children" / state.key
        if dest.exists():
            shutil.rmtree(dest)
        try:
            tree = apply_patch(self.tree_of(parent_id), patch, dest)
        except PatchRefused as exc:
            verdict, words = refusal(exc)
            node = self._add(state, self.tree_of(parent_id), "pending", {"patch_error": str(exc)})
            return Refused(verdict, words, node_id=node.id)
        node = self._add(state, tree, "pending", {})
        self.log(f"node {node.id} created from parent {parent_id} (iteration {self.place(state.key)[0]})")
        return Committed(node.id, same_tree=self._same_tree(node.id, parent_id))

    def _same_tree(self, node_id: str, parent_id: str) -> bool:
        return self.archive.tree_hash(node_id) == self.archive.tree_hash(parent_id)

    def _add(self, state: ChildState, tree: Path, status: str, info: dict) -> Node:
        """Add the child's node with what its slot holds: diagnosis, self-modification files, usage."""
        d = self.slot_dir(state.key)
        diagnosis = records.read_json(d / "diagnosis.json")
        diagnosis = diagnosis if isinstance(diagnosis, dict) else None
        run = records.read_json(d / "selfmod" / "run.json")
        iteration, slot = self.place(state.key)
        meta: dict = {"iteration": iteration, "slot": slot, "key": state.key}
        if isinstance(run, dict):
            # run.json is the agent runner's record (one schema): its reason says why a run was not submitted
            meta["selfmod_status"] = run.get("status")
            meta["selfmod_error"] = (run.get("reason") or None) if run.get("status") != "submitted" else None
        meta.update(info)
        node = self.archive.add_node(state.parent_id or "0", tree, status=status, diagnosis=diagnosis,
                                     improvement_task=(diagnosis or {}).get("problem_statement"), meta=meta)
        self.node_of_key[state.key] = node.id
        dest = self.archive.artifacts_dir(node.id)
        if diagnosis is not None:
            records.write_json(dest / "diagnosis.json", diagnosis)
        records.copy_artifacts(d / "selfmod", dest / "selfmod")
        answers = d / "diagnose-answers.json"
        if answers.is_file():
            records.write_text(dest / "diagnose-answers.json", answers.read_text(encoding="utf-8"))
        used = self.session.gateway.ledger.usage(self.account(state.key))
        self.charge_node(node.id, 0.0, {"tokens_in": used.prompt_tokens, "tokens_out": used.completion_tokens,
                                        "cost_usd": used.usd})
        return node

    # ---- Host protocol: the admission gate (host work, no slot) ----------------------------------------------
    def gate(self, state: ChildState) -> Any:
        """Run every verifier on the child, record them (artifacts/N/verifiers.json), and name the first of
        gate.verifiers that failed it. A gate that cannot judge fails closed: the child is not admitted."""
        node_id = state.node_id or ""
        names = list(self.config.gate.verifiers)
        where = "stage 0" if state.stage == 0 else f"stage {state.stage}"
        try:
            row = checks.verdicts(self.archive, self.archive.get(node_id), self.facts())
            checks.write(self.archive.artifacts_dir(node_id) / "verifiers.json", row, names)
        except (DgmError, OSError, ValueError) as exc:
            self.log(f"node {node_id}: the gate after {where} could not run: {type(exc).__name__}: {str(exc)[:200]}")
            return Refused(Verdict.CRASHED, f"gate: {str(exc)[:400]}")
        failed = checks.gate(row, names)
        if failed is None:
            self.log(f"node {node_id}: gate after {where} passed ({', '.join(names)})")
            return Gated()
        detail = failed.evidence[0] if failed.evidence else ""
        self.log(f"node {node_id}: {failed.name} failed after {where}: {detail[:300]}")
        return Gated(failed.name, detail)

    def facts(self) -> dict[str, checks.TaskFacts]:
        """What the verifiers may know of the run's tasks (repository, hidden test names)."""
        if self._facts is None:
            self._facts = checks.facts_of(self.session.plan.instances)
        return self._facts

    # ---- Host protocol: the verdict as archive status -----------------------------------------------------
    def settle(self, state: ChildState) -> Node | None:
        if state.root:
            if state.done and not state.detail.startswith("halted"):
                node = self.archive.get(state.node_id or "0")
                if not node.meta.get("evaluated"):
                    stages = "below gate" if state.detail == "below gate" else "passed"
                    self.archive.update_node(node.id, meta={**node.meta, "evaluated": True, "stages": stages})
                    self.log(f"root node 0 evaluated: score {node.score}")
            return None
        node_id = state.node_id or self.node_of_key.get(state.key)
        if node_id is None:
            if not state.done or state.verdict in (None, Verdict.OVER_BUDGET):
                return None   # a child cut by the budget before it had a tree leaves no node
            # A child that never got a tree of its own is recorded holding its parent's, with the reason.
            info = {"error": state.detail} if state.verdict is Verdict.DIAGNOSIS_FAILED and state.detail else {}
            node = self._add(state, self.tree_of(state.parent_id or "0"), status_of(state), info)
            self._decided(state, node)
        else:
            node = self.archive.get(node_id)
            status = status_of(state)
            if node.status != status and not _same_rejection(node.status, state):
                node = self.archive.update_node(node_id, status=status)
                self._decided(state, node)
        return node

    def _decided(self, state: ChildState, node: Node) -> None:
        """Say a verdict once: when the status is first written (a resume rewrites nothing, says nothing)."""
        if state.phase is Phase.OPEN:
            self.log(f"node {node.id} admitted after stage 0 (parent {state.parent_id}); the policy evaluates it "
                     f"task by task")
            return
        if not state.done or state.verdict is None:
            return
        if state.verdict.admitted:
            self.log(f"node {node.id} admitted (parent {state.parent_id}, score {node.score})")
        else:
            self.log(f"node {node.id} rejected: {node.status.split(':', 1)[1]} (parent {state.parent_id})")
            self.count_verdict(state.verdict.value)
        on_verdict(self.archive, node.id, state.verdict.admitted, self.session.plan.instances, self.log,
                   gating=self.config.gate.verifiers)

    # ---- the result cache, in front of the executor -------------------------------------------------------
    def cache_key(self, item: Any) -> tuple[str, str, str] | None:
        from dgm.evolve.cache import settings_hash

        if isinstance(item, EvalItem):
            kind = "eval" if item.grade else "smoke"
            settings = {"kind": kind, "model": self.session.gateway.settings_for("task").model,
                        "limits": item.limits, "box": item.box, "image": item.environment.image}
            # An outcome graded without the wider run cannot stand in for one that needs it.
            key = settings_hash({**settings, "wider": True} if item.wider and item.grade else settings)
            return self.archive.tree_hash(item.node_id), item.instance_id, key
        if isinstance(item, CheckItem):
            key = settings_hash({"kind": "check", "cmd": item.own_tests, "box": item.box})
            return self.archive.tree_hash(item.node_id), "stage0", key
        return None

    def cached(self, item: Any) -> Any:
        """A cached outcome of this item (its artifacts copied into the node's folder), or None."""
        key = self.cache_key(item)
        hit = self.cache.get(*key) if key else None
        if hit is None:
            return None
        data, artifacts = hit
        outcome = records.restored(data)
        if isinstance(item, EvalItem):
            outcome.cached = True
            outcome.agent.usage = {}  # this node paid nothing for it
            where = ("tasks" if item.grade else "smoke") + "/" + item.instance_id
        else:
            where = "stage0"
        records.copy_artifacts(artifacts, self.archive.artifacts_dir(item.node_id) / where)
        self.log(f"cache hit: {item.label()}")
        return outcome

    def _store(self, item: Any, outcome: Any) -> None:
        """Remember a verdict about the agent's own code; never an engine failure or a budget cut."""
        key = self.cache_key(item) if item is not None else None
        if key is None or getattr(outcome, "cached", False):
            return
        where = "stage0" if isinstance(item, CheckItem) else ("tasks" if item.grade else "smoke") + "/" + item.instance_id
        self.cache.put(*key, records.stored(outcome), self.archive.artifacts_dir(item.node_id) / where)

    # ---- what items need ------------------------------------------------------------------------------------
    def tree_of(self, node_id: str) -> Path:
        """A host-owned checkout of a node's tree (made once per run start)."""
        if node_id not in self._trees:
            dest = self.session.work_dir / "trees" / node_id
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._trees[node_id] = self.archive.checkout(node_id, dest)
        return self._trees[node_id]

    def problems(self) -> dict[str, str]:
        if self._problems is None:
            self._problems = {iid: inst.problem_statement for iid, inst in self.session.plan.instances.items()}
        return self._problems

    def agent_budget(self, role: str) -> AgentBudget:
        limits = getattr(self.config.limits, role)
        return AgentBudget(limits.max_steps, limits.max_seconds, limits.max_usd)

    def box(self) -> BoxLimits:
        s = self.config.limits.sandbox
        return BoxLimits(s.memory_mb, s.cpus, s.pids)

    def check_timeout(self) -> float:
        return max(60.0, min(900.0, self.config.limits.task.max_seconds))

    def over_budget(self) -> bool:
        left = self.session.gateway.ledger.remaining()
        return left is not None and left <= 0

    def cut_by_budget(self, agent: AgentOutcome, account: str) -> bool:
        """An agent run that did not finish while the run budget is gone, or whose call the run budget
        refused, was stopped by the budget: no verdict on the agent."""
        if agent.status == "submitted":
            return False
        return self.over_budget() or self.session.gateway.ledger.cut_by_run_budget(account)

    def charge_node(self, node_id: str | None, seconds: float, usage: dict) -> None:
        """Add one run's tokens, dollars and seconds to a node's totals (persisted, so resumes add on)."""
        if node_id is None:
            return
        node = self.archive.get(node_id)
        self.archive.update_node(
            node_id, tokens_in=node.tokens_in + int(usage.get("tokens_in") or 0),
            tokens_out=node.tokens_out + int(usage.get("tokens_out") or 0),
            cost_usd=round(node.cost_usd + float(usage.get("cost_usd") or 0.0), 6),
            wall_seconds=round(node.wall_seconds + seconds, 3))

    def _meta(self, node_id: str, **changes: Any) -> None:
        node = self.archive.get(node_id)
        self.archive.update_node(node_id, meta={**node.meta, **changes})


def _same_rejection(status: str, state: ChildState) -> bool:
    """A rejection already written in other words for the same verdict (or in words outside the
    vocabulary, by an older dgm) is kept as it is."""
    if not (state.done and state.verdict and not state.verdict.admitted and status.startswith("rejected:")):
        return False
    return verdict_of(status) in (state.verdict, None)


def reasons_of(nodes: list[Node]) -> dict[str, int]:
    """Rejections by verdict (a status outside the vocabulary counts under its own words)."""
    out: dict[str, int] = {}
    for n in nodes:
        if not n.status.startswith("rejected:"):
            continue
        verdict = verdict_of(n.status)
        reason = verdict.value if verdict else n.status.split(":", 1)[1]
        out[reason] = out.get(reason, 0) + 1
    return out


__all__ = ["RunHost", "status_of", "refusal", "reasons_of", "CRASHED"]
