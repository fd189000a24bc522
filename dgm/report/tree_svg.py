"""The lineage tree as inline SVG: colour by score, admitted vs rejected, the path to the best agent."""

from __future__ import annotations

from html import escape
from typing import Callable

from dgm.report.colors import score_color, text_color
from dgm.report.layout import edges, tidy_layout
from dgm.report.model import RunView

DX, DY, R, MARGIN = 72, 74, 17, 34


def _fmt_score(score: float | None) -> str:
    return "–" if score is None else f"{score:.2f}"


def canvas(view: RunView) -> tuple[dict, set, set, int, int, Callable[[str], tuple[float, float]]]:
    """The tree's geometry: (placed nodes, nodes on the best path, its edges, width, height, node -> x, y)."""
    placed = tidy_layout(view.parents)
    on_path = set(view.best_path)
    path_edges = set(zip(view.best_path, view.best_path[1:]))
    width = int(max((p.x for p in placed.values()), default=0) * DX + 2 * MARGIN + 60)
    height = int(max((p.depth for p in placed.values()), default=0) * DY + 2 * MARGIN)

    def xy(node_id: str) -> tuple[float, float]:
        p = placed[node_id]
        return MARGIN + 20 + p.x * DX, MARGIN + p.depth * DY

    return placed, on_path, path_edges, width, height, xy


def tree_svg(view: RunView) -> str:
    """An <svg> whose node groups carry class "node" and data-node=<id> for the page's script.

    Their ids are "tree-node-<id>", not "node-<id>": the page's #node-<id> links must not jump to the tree."""
    parents = view.parents
    _, on_path, path_edges, width, height, xy = canvas(view)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" id="lineage" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="lineage tree">']
    out.append('<g class="edges">')
    for parent, child in sorted(edges(parents), key=lambda e: (e[1] in on_path, e)):
        (x1, y1), (x2, y2) = xy(parent), xy(child)
        ym = (y1 + y2) / 2
        cls = "edge best-path" if (parent, child) in path_edges else "edge"
        out.append(f'<path class="{cls}" d="M{x1:.1f},{y1 + R:.1f} C{x1:.1f},{ym:.1f} {x2:.1f},{ym:.1f} '
                   f'{x2:.1f},{y2 - R:.1f}"/>')
    out.append("</g>")
    for nv in view.nodes:
        node = nv.node
        x, y = xy(node.id)
        kind = "admitted" if node.status == "admitted" else "pending" if node.status == "pending" else "rejected"
        classes = ["node", kind]
        if node.id in on_path:
            classes.append("on-path")
        if node.id == view.best_id:
            classes.append("best")
        tip = f"node {node.id} · gen {node.generation} · {node.status} · score {_fmt_score(node.score)}"
        nid = escape(node.id, quote=True)
        out.append(f'<g class="{" ".join(classes)}" data-node="{nid}" id="tree-node-{nid}" tabindex="0" '
                   f'role="button" transform="translate({x:.1f},{y:.1f})">')
        out.append(f"<title>{escape(tip)}</title>")
        if node.id == view.best_id:
            out.append(f'<circle class="best-ring" r="{R + 6}"/>')
        out.append(f'<circle class="dot" r="{R}" fill="{score_color(node.score)}"/>')
        label = node.id if len(node.id) <= 4 else node.id[:3] + "…"
        out.append(f'<text class="id" dy="4" fill="{text_color(node.score)}">{escape(label)}</text>')
        if kind == "rejected":
            out.append(f'<path class="cross" d="M{R - 6},{-R - 2} l8,8 m0,-8 l-8,8"/>')
        out.append(f'<text class="score" x="{R + 4}" dy="4">{_fmt_score(node.score)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def legend_html() -> str:
    """A small legend: the colour ramp and the node marks."""
    stops = "".join(f'<stop offset="{i / 10:.1f}" stop-color="{score_color(i / 10)}"/>' for i in range(11))
    return (
        '<svg class="legend" width="520" height="40" viewBox="0 0 520 40" xmlns="http://www.w3.org/2000/svg">'
        f'<defs><linearGradient id="ramp">{stops}</linearGradient></defs>'
        '<text x="0" y="14" class="lg">score 0</text><rect x="50" y="4" width="120" height="12" fill="url(#ramp)"/>'
        '<text x="175" y="14" class="lg">1</text>'
        f'<circle cx="200" cy="10" r="7" fill="{score_color(0.6)}" class="lg-admitted"/>'
        '<text x="212" y="14" class="lg">admitted</text>'
        f'<circle cx="290" cy="10" r="7" fill="{score_color(0.3)}" class="lg-rejected"/>'
        '<text x="302" y="14" class="lg">rejected</text>'
        '<line x1="372" y1="10" x2="396" y2="10" class="lg-path"/><text x="402" y="14" class="lg">path to best</text>'
        '<text x="0" y="34" class="lg">– : no score yet · click a node for its record, diagnosis, diff and tasks</text>'
        "</svg>"
    )
