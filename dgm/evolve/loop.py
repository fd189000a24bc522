"""The outer loop: iteration 0 scores the seed; each iteration selects parents and lives out their
children's jobs on the worker pool. Only this thread writes the archive."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dgm.evolve import records
from dgm.evolve.cache import ResultCache, settings_hash
from dgm.evolve.items import AgentBudget, AgentOutcome, BoxLimits, CheckItem, EvalItem
from dgm.evolve.jobs import ChildJob, Job, RootJob
from dgm.evolve.session import Session
from dgm.evolve.workers import Board, Executor, LocalExecutor, WorkContext

TICK = 1.0  # seconds between progress refreshes while waiting on workers


@dataclass
class Batch:
    items: list
    outcomes: list
    waiting: int


@dataclass
class RunSummary:
    stopped: str | None             # None, "over budget", "wall time"
    iterations_done: int
    admitted: int
    rejected: int
    pending: int
    spent_usd: float
    best: tuple[str, float] | None
    reasons: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0


class Evolution:
    """Drives jobs over an executor; persists each outcome as it arrives."""

    def __init__(self, session: Session, executor: Executor | None = None) -> None:
        self.session = session
        self.config = session.config
        self.archive = session.archive
        self.board = Board()
        self.executor = executor or LocalExecutor(
            self.config.evolve.workers,
            WorkContext(session.gateway, session.relay, session.run_id, _agent_image), self.board)
        self.cache = ResultCache(cache_file(self.config.evolve.cache, session.run_dir))
        self.stopping: str | None = None
        self.started = time.monotonic()
        wall = self.config.budget.wall_seconds
        self.deadline = self.started + wall if wall else None
        self._trees: dict[str, Path] = {}
        self._batches: dict[Job, Batch] = {}
        self._futures: dict[Future, tuple[Job, int]] = {}
        self._problems: dict[str, str] | None = None
        self.iteration = 0

    # ---- the run -------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        p = self.session.progress
        p.update(iterations=self.config.evolve.iterations, budget_usd=self.config.budget.usd or None,
                 deadline=self.deadline)
        try:
            root = self.archive.get("0")
            if not root.meta.get("evaluated"):
                p.update(phase="iteration 0: evaluating the seed")
                self.drive([RootJob(self)])
            for k in range(1, self.config.evolve.iterations + 1):
                self._check_clock()
                if self.stopping:
                    break
                self.iteration = k
                jobs = self.iteration_jobs(k)
                if not jobs:
                    continue
                p.update(phase=f"iteration {k}", iteration=k)
                self.log(f"iteration {k}: parents {', '.join(j.parent_id for j in jobs)}")
                self.drive(jobs)
            if not self.stopping:
                from dgm.science.heldout_job import heldout_jobs

                self.drive(heldout_jobs(self))
        except BaseException:
            # Ctrl-C or a loop failure: do not wait for work in flight (its containers are removed
            # at exit, and --resume redoes it).
            self.executor.shutdown(wait=False)
            self.cache.close()
            raise
        self.executor.shutdown(wait=True)
        self.cache.close()
        return self.summary()

    def iteration_jobs(self, k: int) -> list[ChildJob]:
        """The slots of iteration k not yet decided: from its persisted plan, or a new selection."""
        plan_file = self.session.run_dir / "iterations" / str(k) / "plan.json"
        plan = records.read_json(plan_file)
        if plan is None:
            from dgm.selection import make_selector, select_parents

            selector = make_selector(self.config.selection.strategy, **self.config.selection.params)
            rng = random.Random(f"{self.config.run.seed}:{k}")
            parents = select_parents(self.archive, selector, self.config.evolve.children_per_iteration, rng)
            plan = {"iteration": k, "parents": parents}
            records.write_json(plan_file, plan)
        by_slot = {n.meta.get("slot"): n for n in self.archive.nodes() if n.meta.get("iteration") == k}
        jobs = []
        slots = len(plan["parents"])
        for slot, parent in enumerate(plan["parents"], start=1):
            node = by_slot.get(slot)
            if node is None:
                jobs.append(ChildJob(self, k, slot, slots, parent))
            elif node.status == "pending":
                jobs.append(ChildJob(self, k, slot, slots, parent, node_id=node.id))
        return jobs

    # ---- driving jobs over the executor -----------------------------------------------------------
    def drive(self, jobs: list[Job]) -> None:
        for job in jobs:
            self._advance(job, None)
        self.refresh()
        while self._futures:
            done, _ = wait(list(self._futures), timeout=TICK, return_when=FIRST_COMPLETED)
            self._check_clock()
            for future in done:
                job, index = self._futures.pop(future)
                self._deliver(job, index, future.result())
            # Jobs write the archive only when an outcome arrives: a quiet tick need not reread it.
            self.refresh(archive_changed=bool(done))

    def _advance(self, job: Job, outcomes: list | None) -> None:
        """Run the job's generator until it waits on workers or ends."""
        while True:
            if outcomes is not None and (job.halted or self.stopping):
                self.halt(job)
                return
            try:
                items = next(job.gen) if outcomes is None else job.gen.send(outcomes)
            except StopIteration:
                self._batches.pop(job, None)
                return
            if self.over_budget() and not self.stopping:
                self.stop("over budget")
            if self.stopping:
                self.halt(job)
                return
            batch = Batch(items, [None] * len(items), 0)
            self._batches[job] = batch
            for index, item in enumerate(items):
                hit = self._cached(item)
                if hit is not None:
                    batch.outcomes[index] = hit
                    job.on_outcome(item, hit)
                else:
                    self._futures[self.executor.submit(item)] = (job, index)
                    batch.waiting += 1
            if batch.waiting:
                return
            outcomes = batch.outcomes

    def _deliver(self, job: Job, index: int, outcome: Any) -> None:
        batch = self._batches[job]
        item = batch.items[index]
        batch.outcomes[index] = outcome
        job.on_outcome(item, outcome)
        self._store(item, outcome, job)
        batch.waiting -= 1
        if self.over_budget() and not self.stopping:
            self.stop("over budget")
        if batch.waiting == 0:
            self._advance(job, batch.outcomes)

    def halt(self, job: Job) -> None:
        """Stop a job at a step boundary; a budget stop, an engine crash or runner tampering rejects
        its pending node, a clock stop keeps it pending for --resume."""
        job.gen.close()
        self._batches.pop(job, None)
        reason = job.halted or self.stopping
        if job.node_id and reason in ("over budget", "crashed", "runner tampering"):
            node = self.archive.get(job.node_id)
            if node.status == "pending" and job.node_id != "0":
                self.archive.update_node(job.node_id, status=f"rejected:{reason}")
                self.count_verdict(reason)
                self.log(f"node {job.node_id} rejected: {reason}")

    def stop(self, reason: str) -> None:
        self.stopping = reason
        spent = self.session.gateway.ledger.usage().usd
        if reason == "over budget":
            self.log(f"budget reached (${spent:.4f} of ${self.config.budget.usd:.2f}): finishing work in flight")
        else:
            self.log(f"wall-time cap of {self.config.budget.wall_seconds:.0f}s reached: finishing work in flight")

    def _check_clock(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline and not self.stopping:
            self.stop("wall time")

    # ---- cache ------------------------------------------------------------------------------------------
    def _cache_key(self, item: Any) -> tuple[str, str, str] | None:
        if isinstance(item, EvalItem):
            kind = "eval" if item.grade else "smoke"
            key = settings_hash({"kind": kind, "model": self.session.gateway.settings_for("task").model,
                                 "limits": item.limits, "box": item.box, "image": item.environment.image})
            return self.archive.tree_hash(item.node_id), item.instance_id, key
        if isinstance(item, CheckItem):
            key = settings_hash({"kind": "check", "cmd": item.own_tests, "box": item.box})
            return self.archive.tree_hash(item.node_id), "stage0", key
        return None

    def _cached(self, item: Any) -> Any:
        key = self._cache_key(item)
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

    def _store(self, item: Any, outcome: Any, job: Job) -> None:
        key = self._cache_key(item)
        if key is None or job.halted or getattr(outcome, "error", None) and isinstance(item, CheckItem):
            return
        if isinstance(item, EvalItem):
            if outcome.agent.status == "crashed" or self.cut_by_budget(outcome.agent, item.account):
                return  # an engine failure is not a property of the agent: do not remember it
            where = ("tasks" if item.grade else "smoke") + "/" + item.instance_id
        else:
            where = "stage0"
        self.cache.put(*key, records.stored(outcome), self.archive.artifacts_dir(item.node_id) / where)

    # ---- helpers the jobs use -----------------------------------------------------------------------
    def tree_of(self, node_id: str) -> Path:
        """A loop-owned checkout of a node's tree (made once per run start)."""
        if node_id not in self._trees:
            dest = self.session.work_dir / "trees" / node_id
            if dest.exists():
                import shutil

                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._trees[node_id] = self.archive.checkout(node_id, dest)
        return self._trees[node_id]

    def problems(self) -> dict[str, str]:
        if self._problems is None:
            self._problems = {iid: inst.problem_statement for iid, inst in self.session.plan.instances.items()}
        return self._problems

    def eval_item(self, node_id: str, tree: Path, instance_id: str, stage: int, *, grade: bool = True) -> EvalItem:
        where = ("tasks" if grade else "smoke") + "/" + instance_id
        out_dir = self.archive.artifacts_dir(node_id) / where
        if out_dir.exists():
            import shutil

            shutil.rmtree(out_dir)  # leftovers of a run cut short: this run starts clean
        # One ledger account per agent run: runs of one node proceed in parallel.
        return EvalItem(node_id, tree, self.session.plan.instances[instance_id],
                        self.session.environments[instance_id], stage, self.agent_budget("task"), self.box(),
                        f"node:{node_id}:{'task' if grade else 'smoke'}:{instance_id}", grade=grade,
                        out_dir=out_dir, verify=self.config.evolve.self_verify)

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

    def count_verdict(self, reason: str) -> None:
        reasons = dict(self.session.progress.status.reasons)
        reasons[reason] = reasons.get(reason, 0) + 1
        self.session.progress.update(reasons=reasons)

    def log(self, message: str) -> None:
        self.session.progress.log(message)

    def refresh(self, archive_changed: bool = True) -> None:
        """Update the progress view; the archive's counts are reread only when it may have changed."""
        update: dict[str, Any] = dict(spent_usd=self.session.gateway.ledger.usage().usd,
                                      workers=self.board.snapshot(), iteration=self.iteration)
        if archive_changed:
            nodes = self.archive.nodes()
            scored = [n for n in nodes if n.status == "admitted" and n.score is not None]
            best = max(scored, key=lambda n: (n.score, -int(n.id)), default=None)
            update.update(admitted=sum(n.status == "admitted" for n in nodes),
                          rejected=sum(n.rejected for n in nodes),
                          pending=sum(n.status == "pending" for n in nodes),
                          best_score=best.score if best else None, best_node=best.id if best else None)
        self.session.progress.update(**update)

    def summary(self) -> RunSummary:
        self.refresh()
        s = self.session.progress.status
        reasons: dict[str, int] = {}
        for n in self.archive.nodes("rejected"):
            reason = n.status.split(":", 1)[1]
            reasons[reason] = reasons.get(reason, 0) + 1
        best = (s.best_node, s.best_score) if s.best_node is not None else None
        return RunSummary(self.stopping, self.iteration, s.admitted, s.rejected, s.pending, s.spent_usd, best,
                          reasons, self.cache.hits)


def cache_file(setting: str, run_dir: Path) -> Path | None:
    """Where evolve.cache says results are kept (None: off)."""
    if setting == "off":
        return None
    if setting == "run":
        return run_dir / "cache.sqlite"
    if setting == "home":
        from dgm.home import dgm_home

        return dgm_home() / "evolve-cache.sqlite"
    return Path(setting).expanduser()


_image_lock = threading.Lock()
_image: list[str] = []


def _agent_image() -> str:
    """The agent image tag, ensured once per process (workers ask for it concurrently)."""
    with _image_lock:
        if not _image:
            from dgm.agent import ensure_agent_image

            _image.append(ensure_agent_image())
        return _image[0]
