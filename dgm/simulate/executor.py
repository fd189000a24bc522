"""The simulated executor: the evolve loop's own work items in, their own outcome types out.

Time is virtual: an item starts when it is submitted (the scheduler never submits more items
than it has slots) and finishes after a drawn duration; `wait_next` advances the clock to the
next finish, so a run of weeks takes a fraction of a second and is exactly reproducible.
"""

from __future__ import annotations

import heapq
import itertools
from concurrent.futures import Future
from typing import Any

from dgm.evolve.items import (AgentOutcome, CheckItem, CheckOutcome, DiagnoseItem, DiagnoseOutcome, EvalItem,
                              EvalOutcome, SelfModifyItem)
from dgm.simulate.world import World

GENOME_PREFIX = "simulated genome "


class SimulatedExecutor:
    """submit(item) -> Future, shutdown(): the Executor protocol of dgm.evolve.workers, on a virtual clock."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.clock = 0.0
        self.busy_seconds = 0.0
        self.items = 0
        self._heap: list[tuple[float, int, Future, Any]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.clock

    def submit(self, item: Any) -> "Future[Any]":
        outcome, seconds = self.perform(item)
        future: Future = Future()
        heapq.heappush(self._heap, (self.clock + seconds, next(self._seq), future, outcome))
        self.busy_seconds += seconds
        self.items += 1
        return future

    def wait_next(self, futures: list[Future]) -> list[Future]:
        """Advance the clock to the next finish and complete that future."""
        finish, _, future, outcome = heapq.heappop(self._heap)
        self.clock = max(self.clock, finish)
        future.set_result(outcome)
        return [future]

    def shutdown(self, wait: bool = True) -> None:
        self._heap.clear()

    # ---- the world's answers -------------------------------------------------------------------------
    def perform(self, item: Any) -> tuple[Any, float]:
        w, p = self.world, self.world.params
        if isinstance(item, DiagnoseItem):
            seconds, usd = w.draw(p.seconds_diagnose), w.draw(p.cost_diagnose_usd)
            usage = {"cost_usd": usd}
            if w.rng.random() < p.diagnosis_fail:
                return DiagnoseOutcome(None, "the diagnosis was malformed after retries", 1, [], usage, seconds), seconds
            diagnosis = {"problem_statement": f"improve the agent of node {item.parent_id}"}
            return DiagnoseOutcome(diagnosis, None, 1, [], usage, seconds), seconds
        if isinstance(item, SelfModifyItem):
            seconds, usd = w.draw(p.seconds_selfmod), w.draw(p.cost_selfmod_usd)
            child = w.mutate(w.node_genome[item.parent_id])
            patch = "" if w.genomes[child].fate == "no change" else f"{GENOME_PREFIX}{child}\n"
            return AgentOutcome("submitted", patch, None, {"cost_usd": usd}, "", seconds), seconds
        if isinstance(item, CheckItem):
            seconds = w.draw(p.seconds_check)
            fate = w.genomes[w.node_genome[item.node_id]].fate
            compiled = fate != "does not compile"
            return CheckOutcome(compiled, "", compiled and fate != "own tests fail", "", seconds), seconds
        if isinstance(item, EvalItem):
            seconds, usd = w.draw(p.seconds_task), w.draw(p.cost_task_usd)
            genome = w.node_genome[item.node_id]
            usage = {"cost_usd": usd}
            if not item.grade:
                patch = "" if w.genomes[genome].fate == "empty patches" else "simulated patch\n"
                agent = AgentOutcome("submitted", patch, None, usage, "", seconds)
                return EvalOutcome(item.instance_id, item.stage, agent), seconds
            agent = AgentOutcome("submitted", "simulated patch\n", None, usage, "", seconds)
            resolved = w.solves(genome, item.instance_id)
            return EvalOutcome(item.instance_id, item.stage, agent, resolved=resolved, graded=True,
                               patch_applied=True), seconds
        raise TypeError(f"unknown work item {type(item).__name__}")
