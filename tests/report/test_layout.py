"""The tidy tree layout: no two nodes share a place, parents sit over their children, deep trees work."""

from __future__ import annotations

import random

from dgm.report.layout import path_to_root, tidy_layout


def test_random_forest_has_no_overlaps_and_parents_are_centred() -> None:
    rng = random.Random(7)
    parents: dict[str, str | None] = {"0": None}
    for i in range(1, 300):
        parents[str(i)] = str(rng.randrange(i))
    placed = tidy_layout(parents)
    assert set(placed) == set(parents)
    spots = {(p.x, p.depth) for p in placed.values()}
    assert len(spots) == len(parents)
    for node_id, p in placed.items():
        kids = [placed[c] for c, par in parents.items() if par == node_id]
        if kids:
            xs = sorted(k.x for k in kids)
            assert p.x == (xs[0] + xs[-1]) / 2
            assert all(k.depth == p.depth + 1 for k in kids)
    # Subtrees do not interleave: each depth's x order follows the parents' x order.
    for depth in range(1, max(p.depth for p in placed.values()) + 1):
        row = sorted((p for p in placed.values() if p.depth == depth), key=lambda p: p.x)
        parent_xs = [placed[parents[p.id]].x for p in row]
        assert parent_xs == sorted(parent_xs)


def test_deep_chain_needs_no_recursion() -> None:
    parents = {str(i): (str(i - 1) if i else None) for i in range(5000)}
    placed = tidy_layout(parents)
    assert placed["4999"].depth == 4999
    assert path_to_root(parents, "4999")[:3] == ["0", "1", "2"]
