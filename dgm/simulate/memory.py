"""An in-memory stand-in for the archive's write path, for benchmarks over many seeds.

`dgm simulate` and the tests use the real dgm.archive.Archive; `--archive memory` swaps in this
one only to measure policies quickly (the real archive's git and SQLite writes dominate a
simulated run; scripts/bench_policies.py prints by how much).
"""

from __future__ import annotations

from pathlib import Path

from dgm.archive.node import Node, check_status, score_of
from dgm.errors import BadInput


class MemoryArchive:
    """The subset of Archive the simulation host writes through: add, update, record, get, nodes."""

    def __init__(self) -> None:
        self._nodes: dict[str, Node] = {"0": Node(id="0", commit="", parent_id=None, generation=0,
                                                  status="admitted")}

    def add_node(self, parent_id: str, tree: Path, *, status: str = "pending", meta: dict | None = None) -> Node:
        check_status(status)
        parent = self._nodes[parent_id]
        if parent.rejected:
            raise BadInput(f"parent node {parent_id} is {parent.status}", hint="choose an admitted or pending parent")
        node = Node(id=str(len(self._nodes)), commit="", parent_id=parent_id, generation=parent.generation + 1,
                    status=status, meta=dict(meta or {}))
        self._nodes[node.id] = node
        return node

    def update_node(self, node_id: str, **fields: object) -> Node:
        node = self._nodes[node_id]
        for name, value in fields.items():
            if name == "status":
                check_status(str(value))
            setattr(node, name, value)
        return node

    def record_result(self, node_id: str, instance_id: str, result: dict) -> None:
        node = self._nodes[node_id]
        node.results[instance_id] = result
        node.score = score_of(node.results)

    def get(self, node_id: str) -> Node:
        return self._nodes[node_id]

    def nodes(self) -> list[Node]:
        return list(self._nodes.values())

    def close(self) -> None:
        pass
