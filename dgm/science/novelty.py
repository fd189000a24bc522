"""Novelty of an agent (Group-Evolving Agents, arXiv 2602.04837): the mean cosine distance of its
task-success vector to its M nearest neighbours, M = 4."""

from __future__ import annotations

import math
from typing import Sequence

from dgm.archive.node import Node

M = 4
EPS = 1e-8


def success_vectors(nodes: Sequence[Node]) -> tuple[list[str], dict[str, list[float]]]:
    """The task ids (sorted union of every node's results) and each node's 0/1 vector over them."""
    tasks = sorted(set().union(*(set(n.results) for n in nodes))) if nodes else []
    vectors = {n.id: [1.0 if isinstance(n.results.get(t), dict) and n.results[t].get("resolved") else 0.0
                      for t in tasks] for n in nodes}
    return tasks, vectors


def cosine_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """1 − a·b / (|a||b| + ε): two agents that solve nothing in common are at distance 1."""
    dot = sum(x * y for x, y in zip(a, b))
    return 1.0 - dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)) + EPS)


def novelty(nodes: Sequence[Node], m: int = M) -> dict[str, float]:
    """node id -> mean distance to its m nearest other nodes (1.0 for a node alone)."""
    _, vectors = success_vectors(nodes)
    out: dict[str, float] = {}
    for i, vi in vectors.items():
        near = sorted(cosine_distance(vi, vj) for j, vj in vectors.items() if j != i)[:m]
        out[i] = sum(near) / len(near) if near else 1.0
    return out
