"""The lineage tree for the live page, as data the page draws and patches in place.

The server lays the tree out (the report's tidy layout and colours) and sends one record a node:
numbers, a colour, marks from a fixed vocabulary and two short texts made inert here. The page's
script creates one SVG group a node from these with createElementNS/setAttribute/textContent (no
markup is ever parsed), and on a change gets only what changed: the records of new or changed nodes
and the new positions of nodes the layout moved. Up to LABELLED_MAX nodes each circle carries its id,
score and a tooltip as in the report; past that only the circle, which keeps 10,000 nodes quick."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from dgm.report.colors import score_color, text_color
from dgm.report.model import RunView
from dgm.report.tree_svg import DX, DY, MARGIN, R, canvas
from dgm.terminal import inert

_fill = lru_cache(maxsize=4096)(score_color)  # a run has few distinct scores; 10,000 conversions cost 0.1 s
_ink = lru_cache(maxsize=4096)(text_color)

LABELLED_MAX = 1500  # nodes: up to this many, labels and tooltips as in the report's tree

# One node: (id, parent id or None, x, y, marks, fill, label colour, score text, tooltip).
Record = tuple[str, Any, float, float, str, str, str, str, str]


def _score(score: float | None) -> str:
    return "–" if score is None else f"{score:.2f}"


def records(view: RunView) -> tuple[dict[str, Record], int, int]:
    """Every node's record by id, and the drawing's width and height."""
    _, on_path, _, width, height, xy = canvas(view)
    labelled = len(view.nodes) <= LABELLED_MAX
    parents = view.parents  # a property that builds the mapping on each use
    out: dict[str, Record] = {}
    for nv in view.nodes:
        node = nv.node
        x, y = xy(node.id)
        kind = "admitted" if node.status == "admitted" else "pending" if node.status == "pending" else "rejected"
        marks = kind + (" on-path" if node.id in on_path else "") + (" best" if node.id == view.best_id else "")
        tip = (inert(f"node {node.id} · gen {node.generation} · {node.status} · score {_score(node.score)}")
               if labelled else "")
        out[node.id] = (node.id, node.parent_id if node.parent_id in parents else None, round(x, 1),
                        round(y, 1), marks, _fill(node.score), _ink(node.score) if labelled else "",
                        _score(node.score) if labelled else "", tip)
    return out, width, height


def full(recs: dict[str, Record], width: int, height: int) -> dict:
    """The whole tree, as the page draws it at first load or after losing track."""
    return {"w": width, "h": height, "labels": _labelled(recs), "r": R, "nodes": list(recs.values()),
            "geometry": [DX, DY, MARGIN]}


def delta(old: dict[str, Record], new: dict[str, Record], width: int, height: int) -> dict:
    """What changed from `old` to `new`: records of new nodes and of nodes whose marks, colour or texts
    changed, and [id, x, y, ...] of the other nodes whose position moved (a leaf added in the tidy
    layout shifts the leaves to its right and re-centres their ancestors)."""
    nodes: list[Record] = []
    moves: list[Any] = []
    for node_id, rec in new.items():
        was = old.get(node_id)
        if was is None or was[4:] != rec[4:] or was[1] != rec[1]:
            nodes.append(rec)
        elif was[2:4] != rec[2:4]:
            moves += [node_id, rec[2], rec[3]]
    return {"w": width, "h": height, "labels": _labelled(new), "nodes": nodes, "moves": moves}


def _labelled(recs: dict[str, Record]) -> bool:
    return len(recs) <= LABELLED_MAX
