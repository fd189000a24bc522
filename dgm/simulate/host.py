"""The simulation's host: real work items for the executor, a real dgm.archive.Archive for the results.

An agent tree is one small file naming its genome, so each node is a real git commit and an
index row, written by the same Archive code a real run uses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dgm.archive import Archive
from dgm.archive.node import Node
from dgm.evolve.items import AgentBudget, AgentOutcome, BoxLimits, CheckItem, DiagnoseItem, EvalItem, EvalOutcome, \
    SelfModifyItem
from dgm.scheduler.states import Check, ChildState, Committed, Diagnose, Evaluate, Phase, Refused, SelfModify, Work
from dgm.scheduler.verdicts import Verdict
from dgm.simulate.executor import GENOME_PREFIX
from dgm.simulate.world import World

LIMITS = AgentBudget(max_steps=100, max_seconds=3600.0, max_usd=5.0)
BOX = BoxLimits(memory_mb=4096, cpus=1.0, pids=512)


@dataclass(frozen=True)
class SimTask:
    """Stands where a dgm.bench TaskInstance goes in an EvalItem."""

    instance_id: str
    problem_statement: str = ""


class SimHost:
    def __init__(self, archive: Archive, world: World, work_dir: Path) -> None:
        self.archive, self.world = archive, world
        self.work_dir = Path(work_dir)
        (self.work_dir / "trees").mkdir(parents=True, exist_ok=True)
        (self.work_dir / "patches").mkdir(parents=True, exist_ok=True)
        self.trees: dict[str, Path] = {}
        self.node_of_key = {n.meta["key"]: n.id for n in archive.nodes() if "key" in n.meta}
        for n in archive.nodes():
            if "genome" in n.meta:
                world.node_genome[n.id] = int(n.meta["genome"])

    def tree(self, node_id: str) -> Path:
        genome = self.world.node_genome[node_id]
        path = self.trees.get(str(genome))
        if path is None:
            path = self.work_dir / "trees" / str(genome)
            path.mkdir(parents=True, exist_ok=True)
            (path / "agent.json").write_text(json.dumps({"genome": genome}) + "\n")
            self.trees[str(genome)] = path
        return path

    # ---- Host protocol -------------------------------------------------------------------------------
    def item(self, work: Work, state: ChildState) -> Any:
        account = f"sim:{work.key}"
        if isinstance(work, Diagnose):
            return DiagnoseItem(work.key, work.parent_id, [], 0, account)
        if isinstance(work, SelfModify):
            return SelfModifyItem(work.key, work.parent_id, self.tree(work.parent_id), work.problem_statement,
                                  LIMITS, BOX, account)
        if isinstance(work, Check):
            return CheckItem(work.node_id, self.tree(work.node_id), "true", BOX, timeout=60.0)
        if isinstance(work, Evaluate):
            return EvalItem(work.node_id, self.tree(work.node_id), SimTask(work.instance_id), None, work.stage,
                            LIMITS, BOX, account, grade=work.graded)
        raise TypeError(f"no item for {type(work).__name__}")

    def record(self, work: Work, state: ChildState, outcome: Any) -> Any:
        if isinstance(work, SelfModify) and isinstance(outcome, AgentOutcome):
            (self.work_dir / "patches" / f"{work.key}.diff").write_text(outcome.patch)
        elif isinstance(work, Evaluate) and work.graded and state.node_id:
            self.archive.record_result(state.node_id, work.instance_id, outcome.result())
        return outcome

    def recorded(self, work: Work) -> Any:
        if not (isinstance(work, Evaluate) and work.graded):
            return None
        result = self.archive.get(work.node_id).results.get(work.instance_id)
        if result is None:
            return None
        agent = AgentOutcome(result.get("status", "submitted"), "simulated patch\n", None, {}, "", 0.0)
        return EvalOutcome(work.instance_id, work.stage, agent, resolved=bool(result.get("resolved")), graded=True)

    def commit(self, state: ChildState) -> Any:
        patch = (self.work_dir / "patches" / f"{state.key}.diff").read_text()
        if not patch.startswith(GENOME_PREFIX):
            return Refused(Verdict.PATCH_REFUSED, "not a simulated genome patch")
        genome = int(patch[len(GENOME_PREFIX):].strip())
        existing = self.node_of_key.get(state.key)
        if existing is None:
            self.world.node_genome["?"] = genome
            node = self._add(state, genome, "pending")
            existing = node.id
        return Committed(existing)

    def _add(self, state: ChildState, genome: int, status: str) -> Node:
        parent = state.parent_id or "0"
        self.world.node_genome["?"] = genome
        tree = self.tree("?")
        node = self.archive.add_node(parent, tree, status=status, meta={"key": state.key, "genome": genome})
        self.world.node_genome[node.id] = genome
        self.node_of_key[state.key] = node.id
        return node

    def settle(self, state: ChildState) -> Node | None:
        if state.node_id is None:
            if not state.done or state.verdict in (None, Verdict.OVER_BUDGET) or state.parent_id is None:
                return None
            if state.key in self.node_of_key:
                return self.archive.get(self.node_of_key[state.key])
            # As today: a child that never got a tree of its own is recorded holding its parent's.
            return self._add(state, self.world.node_genome[state.parent_id], state.verdict.status)
        if state.root:
            return None
        if state.done:
            status = state.verdict.status if state.verdict else "pending"
        elif state.phase is Phase.OPEN:
            status = "admitted"
        else:
            status = "pending"
        return self.archive.update_node(state.node_id, status=status)
