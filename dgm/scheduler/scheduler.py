"""The scheduler: keeps every executor slot busy, asks the policy for work, persists each transition
before acting on it. It owns no science: the transition function decides a child's next step, the
policy decides which child or node gets the next free slot, the host does the backend's I/O.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from dgm.archive.node import Node
from dgm.evolve.items import EvalOutcome
from dgm.scheduler.policies import Expand, Policy
from dgm.scheduler.states import ChildState, Commit, Evaluate, Gate, Halt, Phase, Work
from dgm.scheduler.store import StateStore
from dgm.scheduler.transitions import resume, start, transition
from dgm.scheduler.verdicts import Verdict
from dgm.scheduler.view import TreeView


class Host(Protocol):
    """The backend's side: turn work into executor items, and write what outcomes mean to the archive."""

    def item(self, work: Work, state: ChildState) -> Any: ...
    def commit(self, state: ChildState) -> Any: ...           # -> Committed | Refused (inline, no slot)
    def gate(self, state: ChildState) -> Any: ...             # -> Gated (inline; only when the plan has verifiers)
    def record(self, work: Work, state: ChildState, outcome: Any) -> Any: ...   # -> event for the transition
    def settle(self, state: ChildState) -> Node | None: ...  # archive status; a new node when it made one
    def recorded(self, work: Work) -> Any: ...               # a stored outcome of this work (resume), or None


class Executor(Protocol):
    def submit(self, item: Any) -> "Future[Any]": ...
    def shutdown(self, wait: bool = True) -> None: ...


@dataclass
class Budget:
    """When to stop asking for new work (None: no cap)."""

    evals: int | None = None
    usd: float | None = None
    seconds: float | None = None
    check: Callable[[], str | None] | None = None   # an outside stop ("over budget", "wall time"), or None


HARD_STOPS = ("over budget", "wall time")   # queued work is not started after these: only work in flight ends


@dataclass
class SchedulerStats:
    items: int = 0
    usd: float = 0.0
    decide_seconds: float = 0.0     # time spent in policy, transitions, store and view (not the host)
    host_seconds: float = 0.0
    stopped: str | None = None
    verdicts: dict[str, int] = field(default_factory=dict)


class Scheduler:
    def __init__(self, policy: Policy, executor: Executor, host: Host, store: StateStore, view: TreeView, *,
                 slots: int, budget: Budget | None = None, clock: Callable[[], float] | None = None,
                 on_event: Callable[["Scheduler", Work, Any], None] | None = None,
                 tick: tuple[float, Callable[["Scheduler"], None]] | None = None) -> None:
        self.policy, self.executor, self.host, self.store, self.view = policy, executor, host, store, view
        self.slots = slots
        self.view.slots = slots
        self.budget = budget or Budget()
        self.clock = clock or getattr(executor, "now", None) or time.monotonic
        self.started = self.clock()
        self.on_event = on_event
        self.tick = tick
        self.stats = SchedulerStats()
        self.queue: deque[Work] = deque()
        self.inflight: dict[Future, Work] = {}
        self._next_key = 0

    # ---- the run ----------------------------------------------------------------------------------------
    def run(self, root: str | None = "0") -> SchedulerStats:
        """Drive until the policy has nothing left or the budget stops it; `root` is evaluated first."""
        self._resume()
        if root is not None and not any(s.node_id == root and s.root for s in self.view.states.values()):
            self._begin(ChildState("root", None, node_id=root, root=True))
        try:
            while True:
                self._fill()
                if not self.inflight:
                    break
                for future in self._wait():
                    work = self.inflight.pop(future)
                    self._deliver(work, future.result())
        except BaseException:
            self.executor.shutdown(wait=False)
            raise
        if self.stats.stopped != "wall time":   # a clock stop leaves children pending for a resume
            self._halt_rest()
        return self.stats

    def _resume(self) -> None:
        """Reload persisted states: decided ones inform the view, undecided ones re-ask their work."""
        for state in self.store.load():
            self._next_key = max(self._next_key, _key_number(state.key) + 1)
            self.view.put_state(state)
            if not state.root and state.parent_id is not None:
                self.view.expansions += 1
                self.view.started[state.parent_id] = self.view.started.get(state.parent_id, 0) + 1
            # The archive status follows the state row; a crash between the two is repaired here.
            node = self.host.settle(state)
            if node is not None and node.id in self.view.nodes:
                self.view.set_status(node.id, node.status)
            elif node is not None:
                self.view.add_node(node)
            if state.done:
                continue
            for work in resume(state, self.policy.plan):
                stored = self.host.recorded(work)
                if stored is not None:
                    self._deliver(work, stored, replay=True)
                else:
                    self._enqueue(work)

    def _fill(self) -> None:
        while len(self.inflight) < self.slots:
            if self.queue and self._stop_reason() not in HARD_STOPS:
                self._submit(self.queue.popleft())
                continue
            if self._stop_reason():
                return
            t0 = time.perf_counter()
            proposals = self.policy.next(self.view)
            self.stats.decide_seconds += time.perf_counter() - t0
            if not proposals:
                return
            for p in proposals:
                if isinstance(p, Expand):
                    self._expand(p.parent_id)
                else:
                    self._enqueue(Evaluate(self.view.key_of[p.node_id], p.node_id, p.instance_id, 1))

    def _stop_reason(self) -> str | None:
        if self.stats.stopped:
            return self.stats.stopped
        b = self.budget
        outside = b.check() if b.check is not None else None
        if outside:
            self.stats.stopped = outside
        elif b.evals is not None and self.view.evals >= b.evals:
            self.stats.stopped = "evaluations"
        elif b.usd is not None and self.stats.usd >= b.usd:
            self.stats.stopped = "over budget"
        elif b.seconds is not None and self.clock() - self.started >= b.seconds:
            self.stats.stopped = "wall time"
        return self.stats.stopped

    def _expand(self, parent_id: str) -> None:
        key = f"c{self._next_key}"
        self._next_key += 1
        self.view.expansions += 1
        self.view.started[parent_id] = self.view.started.get(parent_id, 0) + 1
        self._begin(ChildState(key, parent_id))

    def _begin(self, state: ChildState) -> None:
        t0 = time.perf_counter()
        state, work = start(state, self.policy.plan)
        self._persist(state)
        self.stats.decide_seconds += time.perf_counter() - t0
        for w in work:
            self._enqueue(w)

    # ---- work ----------------------------------------------------------------------------------------
    def _enqueue(self, work: Work) -> None:
        if isinstance(work, (Commit, Gate)):
            # Host work needs no slot: apply the patch and add the node, or run the gate's verifiers, now.
            state = self.view.states[work.key]
            t0 = time.perf_counter()
            event = self.host.commit(state) if isinstance(work, Commit) else self.host.gate(state)
            self.stats.host_seconds += time.perf_counter() - t0
            self._advance(work, state, event)
            return
        if isinstance(work, Evaluate):
            self.view.evals += 1
            if work.graded:
                self.view.ask(work.node_id, work.instance_id)
        self.queue.append(work)

    def _submit(self, work: Work) -> None:
        state = self.view.states[work.key]
        t0 = time.perf_counter()
        item = self.host.item(work, state)
        self.stats.host_seconds += time.perf_counter() - t0
        self.inflight[self.executor.submit(item)] = work
        self.stats.items += 1

    def _wait(self) -> list[Future]:
        waiter = getattr(self.executor, "wait_next", None)
        if waiter is not None:
            return waiter(list(self.inflight))
        if self.tick is None:
            done, _ = wait(list(self.inflight), return_when=FIRST_COMPLETED)
            return list(done)
        seconds, callback = self.tick
        while True:
            done, _ = wait(list(self.inflight), timeout=seconds, return_when=FIRST_COMPLETED)
            self._stop_reason()
            callback(self)
            if done:
                return list(done)

    def _deliver(self, work: Work, outcome: Any, *, replay: bool = False) -> None:
        state = self.view.states[work.key]
        usage = getattr(outcome, "usage", None) or getattr(getattr(outcome, "agent", None), "usage", None) or {}
        if not replay:
            self.stats.usd += float(usage.get("cost_usd") or 0.0)
        if isinstance(work, Evaluate):
            self.view.evals_done += 1
        t0 = time.perf_counter()
        event = self.host.record(work, state, outcome) if not replay else outcome
        self.stats.host_seconds += time.perf_counter() - t0
        if isinstance(work, Evaluate) and work.graded and isinstance(event, EvalOutcome) and state.node_id:
            from dgm.scheduler.transitions import engine_crash

            if not engine_crash(state, event):
                self.view.record(work.node_id, work.instance_id, event.resolved)
        self._advance(work, state, event)
        if self.on_event is not None:
            self.on_event(self, work, outcome)

    def _advance(self, work: Work, state: ChildState, event: Any) -> None:
        t0 = time.perf_counter()
        nxt, more = transition(state, event, self.policy.plan)
        if nxt.phase is Phase.OPEN and not nxt.done:
            close = self.policy.review(self.view, nxt)
            if close is not None:
                nxt, more = transition(nxt, close, self.policy.plan)
        self.stats.decide_seconds += time.perf_counter() - t0
        self._persist(nxt, before=state)
        for w in more:
            self._enqueue(w)

    def _persist(self, state: ChildState, before: ChildState | None = None) -> None:
        """State row first, then the archive status: a crash between them is repaired by the next settle."""
        t0 = time.perf_counter()
        self.store.save(state)
        self.view.put_state(state)
        self.stats.decide_seconds += time.perf_counter() - t0
        if before is not None and (before.phase, before.verdict, before.node_id) == \
                (state.phase, state.verdict, state.node_id):
            return
        t0 = time.perf_counter()
        node = self.host.settle(state)
        self.stats.host_seconds += time.perf_counter() - t0
        if node is not None and node.id not in self.view.nodes:
            self.view.add_node(node)
        if node is not None and node.id in self.view.nodes:
            self.view.set_status(node.id, node.status)
        if state.done and state.verdict is not None and not state.root:
            reason = state.verdict.value
            self.stats.verdicts[reason] = self.stats.verdicts.get(reason, 0) + 1

    def _halt_rest(self) -> None:
        """Decide every child the stop left undecided: pending nodes are rejected over budget. Open nodes
        stay open (admitted already): a resumed run with more budget goes on evaluating them."""
        verdict = Verdict.OVER_BUDGET
        for key in list(self.view.states):
            state = self.view.states[key]
            if not state.done and state.phase not in (Phase.PLANNED, Phase.OPEN):
                self._advance(Halt(verdict), state, Halt(verdict))


def _key_number(key: str) -> int:
    return int(key[1:]) if key[:1] == "c" and key[1:].isdigit() else -1
