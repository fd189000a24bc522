"""A tidy layout for the lineage tree: leaves in depth-first order, each parent centred over its children."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence


@dataclass
class Placed:
    """One node's position: x in leaf slots, depth in generations below its root."""

    id: str
    x: float
    depth: int


def sort_key(node_id: str) -> tuple[int, int | str]:
    """Numeric ids in numeric order ("10" after "9"), anything else after, alphabetically."""
    return (0, int(node_id)) if node_id.isdigit() else (1, node_id)


def tidy_layout(parents: Mapping[str, str | None]) -> dict[str, Placed]:
    """Place every node of the forest `parents` (id -> parent id); subtrees never overlap."""
    children: dict[str, list[str]] = {node_id: [] for node_id in parents}
    roots: list[str] = []
    for node_id, parent in parents.items():
        if parent is None or parent not in parents:
            roots.append(node_id)
        else:
            children[parent].append(node_id)
    for kids in children.values():
        kids.sort(key=sort_key)
    placed: dict[str, Placed] = {}
    next_slot = 0.0
    # Iterative post-order walk: archives can be deeper than Python's recursion limit.
    for root in sorted(roots, key=sort_key):
        stack: list[tuple[str, int, bool]] = [(root, 0, False)]
        while stack:
            node_id, depth, expanded = stack.pop()
            kids = children[node_id]
            if not kids:
                placed[node_id] = Placed(node_id, next_slot, depth)
                next_slot += 1.0
            elif expanded:
                xs = [placed[k].x for k in kids]
                placed[node_id] = Placed(node_id, (xs[0] + xs[-1]) / 2.0, depth)
            else:
                stack.append((node_id, depth, True))
                stack.extend((k, depth + 1, False) for k in reversed(kids))
    return placed


def path_to_root(parents: Mapping[str, str | None], node_id: str | None) -> list[str]:
    """Ids from the root down to `node_id` (empty when node_id is None)."""
    path: list[str] = []
    seen: set[str] = set()
    while node_id is not None and node_id in parents and node_id not in seen:
        seen.add(node_id)
        path.append(node_id)
        node_id = parents[node_id]
    return list(reversed(path))


def edges(parents: Mapping[str, str | None]) -> Sequence[tuple[str, str]]:
    """(parent, child) pairs whose both ends are in the forest."""
    return [(p, c) for c, p in parents.items() if p is not None and p in parents]
