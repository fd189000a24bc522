"""The worker pool behind a tiny interface: submit(item) -> Future of its outcome.

A thread pool is the default (the work waits on Docker and the model, not the CPU); another
executor (e.g. Ray) can take the same items, which are plain dataclasses.
"""

from __future__ import annotations

import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from dgm.evolve.items import (AgentOutcome, CheckItem, CheckOutcome, DiagnoseItem, DiagnoseOutcome, EvalItem,
                              EvalOutcome, SelfModifyItem)


@dataclass
class WorkContext:
    """What every item needs besides its own inputs: the relay (model access) and the run's ids."""

    gateway: Any             # dgm.llm.Gateway
    relay: Any               # dgm.llm.Relay
    run_id: str
    agent_image: Callable[[], str]   # ensure_agent_image, called lazily (built once, cached)


class Executor(Protocol):
    def submit(self, item: Any) -> "Future[Any]": ...
    def shutdown(self, wait: bool = True) -> None: ...


class Board:
    """What each worker is doing right now, for the progress view (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._doing: dict[str, tuple[str, float]] = {}

    def start(self, label: str) -> None:
        with self._lock:
            self._doing[threading.current_thread().name] = (label, time.monotonic())

    def stop(self) -> None:
        with self._lock:
            self._doing.pop(threading.current_thread().name, None)

    def set(self, worker: str, label: str) -> None:
        """Name what WORKER (not a thread here: a remote task) is doing."""
        with self._lock:
            self._doing[worker] = (label, time.monotonic())

    def clear(self, worker: str) -> None:
        with self._lock:
            self._doing.pop(worker, None)

    def snapshot(self) -> list[tuple[str, str, float]]:
        """[(worker, label, seconds so far)] sorted by worker name."""
        now = time.monotonic()
        with self._lock:
            return sorted((w, label, now - t0) for w, (label, t0) in self._doing.items())


class LocalExecutor:
    """A thread pool running items with `perform`; never raises from a worker (errors become outcomes)."""

    def __init__(self, workers: int, context: WorkContext, board: Board | None = None) -> None:
        self.context = context
        self.board = board or Board()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="worker")

    def submit(self, item: Any) -> "Future[Any]":
        return self._pool.submit(self._run, item)

    def _run(self, item: Any) -> Any:
        self.board.start(item.label())
        try:
            return perform(item, self.context)
        finally:
            self.board.stop()

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


def perform(item: Any, context: WorkContext) -> Any:
    """Run one work item; an unexpected exception becomes a "crashed" outcome, never a lost item."""
    started = time.monotonic()
    try:
        if isinstance(item, DiagnoseItem):
            from dgm.evolve.diagnose import run_diagnosis

            return run_diagnosis(item, context.gateway)
        if isinstance(item, SelfModifyItem):
            from dgm.evolve.selfmod import run_selfmod

            return run_selfmod(item, context)
        if isinstance(item, CheckItem):
            from dgm.evolve.stages import run_check

            return run_check(item, context)
        if isinstance(item, EvalItem):
            from dgm.evolve.stages import run_eval

            return run_eval(item, context)
        raise TypeError(f"unknown work item {type(item).__name__}")
    except Exception as exc:  # noqa: BLE001 - the loop records it; one bad item must not stop the run
        seconds = time.monotonic() - started
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)[-3000:]}"
        return crashed_outcome(item, error, seconds)


def crashed_outcome(item: Any, error: str, seconds: float) -> Any:
    """The outcome an item has when the engine (not the agent) failed."""
    if isinstance(item, DiagnoseItem):
        return DiagnoseOutcome(None, error, 0, [], {}, seconds)
    if isinstance(item, CheckItem):
        return CheckOutcome(False, "", False, "", seconds, error=error)
    agent = AgentOutcome("crashed", "", None, {}, "", seconds, error=error)
    if isinstance(item, EvalItem):
        return EvalOutcome(item.instance_id, item.stage, agent, error=error)
    return agent
