"""The evolve loop: the scheduler (dgm.scheduler) over the worker pool, with the run's host and policy.

The policy decides which child or node gets the next free worker, the transition function moves
each child through its states, the host (dgm.evolve.host) does the Docker-side I/O, and every
transition is persisted (RUN/states.sqlite) before it is acted on. Only this thread writes the
archive and the cache.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dgm.evolve.cache import ResultCache
from dgm.evolve.host import RunHost, reasons_of
from dgm.evolve.policy import children_per_iteration, eval_plan, run_policy
from dgm.evolve.session import Session
from dgm.evolve.executors import make_executor
from dgm.evolve.workers import Board, Executor, WorkContext
from dgm.scheduler.scheduler import Budget, Scheduler
from dgm.scheduler.states import ChildState, Phase
from dgm.scheduler.store import StateStore
from dgm.scheduler.verdicts import Verdict, verdict_of
from dgm.scheduler.view import TreeView

TICK = 1.0  # seconds between progress refreshes while waiting on workers
STATES_FILE = "states.sqlite"


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


class CachedExecutor:
    """The result cache in front of the workers: an item whose outcome is cached completes at once."""

    def __init__(self, inner: Executor, host: RunHost) -> None:
        self.inner, self.host = inner, host

    def submit(self, item: Any) -> "Future[Any]":
        hit = self.host.cached(item)
        if hit is None:
            return self.inner.submit(item)
        future: Future = Future()
        future.set_result(hit)
        return future

    def shutdown(self, wait: bool = True) -> None:
        self.inner.shutdown(wait=wait)


class Evolution:
    """One start of a run: scheduler, policy, host and state store over the session."""

    def __init__(self, session: Session, executor: Executor | None = None) -> None:
        self.session = session
        self.config = session.config
        self.archive = session.archive
        self.board = Board()
        self.executor = executor or make_executor(
            self.config, WorkContext(session.gateway, session.relay, session.run_id, _agent_image), self.board,
            session.progress.log)
        self.cache = ResultCache(cache_file(self.config.evolve.cache, session.run_dir))
        self.per_iteration = children_per_iteration(self.config)
        self.host = RunHost(session, self.cache, per_iteration=self.per_iteration, log=self.log,
                            count_verdict=self.count_verdict)
        self.policy = run_policy(self.config, eval_plan(self.config, session.plan))
        self.started = time.monotonic()
        wall = self.config.budget.wall_seconds
        self.deadline = self.started + wall if wall else None
        self.stopping: str | None = None
        self.scheduler: Scheduler | None = None

    # ---- the run -------------------------------------------------------------------------------
    def run(self) -> RunSummary:
        p = self.session.progress
        p.update(iterations=self.config.evolve.iterations, budget_usd=self.config.budget.usd or None,
                 deadline=self.deadline, phase=f"policy {self.policy.name}: evaluating the seed")
        store = StateStore(self.session.run_dir / STATES_FILE)
        try:
            view = self._view(store)
            self.scheduler = Scheduler(self.policy, CachedExecutor(self.executor, self.host), self.host, store,
                                       view, slots=self.slots(),
                                       budget=Budget(check=self._outside_stop),
                                       on_event=lambda s, w, o: self.refresh(), tick=(TICK, lambda s: self.refresh(False)))
            stats = self.scheduler.run(root="0")
            if not stats.stopped:
                from dgm.science.heldout_job import evaluate_heldout

                evaluate_heldout(self)
        except BaseException:
            # Ctrl-C or a loop failure: do not wait for work in flight (its containers are removed
            # at exit, and --resume redoes it).
            self.executor.shutdown(wait=False)
            self.cache.close()
            store.close()
            raise
        self.executor.shutdown(wait=True)
        self.cache.close()
        store.close()
        self.stopping = stats.stopped if stats.stopped in ("over budget", "wall time") else None
        return self.summary()

    def _view(self, store: StateStore) -> TreeView:
        """The policy's view of the archive; an archive made before child states were kept gets them now."""
        plan = self.session.plan
        pool = tuple(dict.fromkeys(iid for ids in plan.stages for iid in ids))
        view = TreeView(tasks=pool)
        nodes = self.archive.nodes()
        for node in nodes:
            view.add_node(node)
        if not store.load():
            for state in legacy_states(nodes, plan.stages, self.per_iteration):
                store.save(state)
        return view

    def slots(self) -> int:
        """Work items under way at once: the cluster's sandbox slots on Ray, else evolve.workers."""
        cluster = getattr(self.executor, "slots", None)
        return max(1, int(cluster)) if cluster else self.config.evolve.workers

    def _outside_stop(self) -> str | None:
        reason = None
        if self.deadline is not None and time.monotonic() >= self.deadline:
            reason = "wall time"
        elif self.host.over_budget():
            reason = "over budget"
        if reason and not self.stopping:
            self.stopping = reason
            if reason == "over budget":
                spent = self.session.gateway.ledger.usage().usd
                self.log(f"budget reached (${spent:.4f} of ${self.config.budget.usd:.2f}): finishing work in flight")
            else:
                self.log(f"wall-time cap of {self.config.budget.wall_seconds:.0f}s reached: finishing work in flight")
        return reason

    # ---- progress -----------------------------------------------------------------------------------
    def count_verdict(self, reason: str) -> None:
        reasons = dict(self.session.progress.status.reasons)
        reasons[reason] = reasons.get(reason, 0) + 1
        self.session.progress.update(reasons=reasons)

    def log(self, message: str) -> None:
        self.session.progress.log(message)

    def iteration(self) -> int:
        view = self.scheduler.view if self.scheduler else None
        return -(-view.expansions // self.per_iteration) if view else 0

    def refresh(self, archive_changed: bool = True) -> None:
        """Update the progress view; the archive's counts are reread only when it may have changed."""
        update: dict[str, Any] = dict(spent_usd=self.session.gateway.ledger.usage().usd,
                                      workers=self.board.snapshot(), iteration=self.iteration())
        if self.scheduler is not None:
            view = self.scheduler.view
            update["phase"] = (f"policy {self.policy.name}: {view.active()} child(ren) under way, "
                               f"{len(view.open_nodes())} open, {view.evals_done} task run(s)")
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
        best = (s.best_node, s.best_score) if s.best_node is not None else None
        pick = self.policy.pick(self.scheduler.view) if self.scheduler else None
        if pick is not None and self.policy.name != "dgm":
            node = self.archive.get(pick)
            best = (pick, node.score or 0.0)   # an open policy's answer is its own pick, not the raw best score
        return RunSummary(self.stopping, self.iteration(), s.admitted, s.rejected, s.pending, s.spent_usd, best,
                          reasons_of(self.archive.nodes("rejected")), self.cache.hits)


def legacy_states(nodes: list, stages: list[list[str]], per_iteration: int) -> list[ChildState]:
    """Child states for an archive whose run kept none (made by a dgm without the scheduler): decided
    nodes become decided states; a pending one resumes at stage 0, or at stage 1 when stage 0 passed
    (its recorded results are replayed, not rerun)."""
    out: list[ChildState] = []
    for node in nodes:
        if node.id == "0":
            if node.meta.get("evaluated"):
                out.append(ChildState("root", None, Phase.DONE, node_id="0", verdict=Verdict.ADMITTED, root=True))
            continue
        iteration, slot = node.meta.get("iteration"), node.meta.get("slot")
        if not isinstance(iteration, int) or not isinstance(slot, int):
            continue
        key = f"c{(iteration - 1) * per_iteration + slot - 1}"
        state = ChildState(key, node.parent_id, node_id=node.id)
        if node.status == "admitted":
            state = state.but(phase=Phase.DONE, verdict=Verdict.ADMITTED)
        elif node.status.startswith("rejected:"):
            state = state.but(phase=Phase.DONE, verdict=verdict_of(node.status) or Verdict.CRASHED,
                              detail=node.status.split(":", 1)[1])
        elif node.meta.get("stage0") and stages:
            state = state.but(phase=Phase.EVALUATING, stage=1, todo=tuple(stages[0]))
        else:
            state = state.but(phase=Phase.CHECKING)
        out.append(state)
    return out


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
