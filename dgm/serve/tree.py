"""The lineage tree for the live page: the report's tree_svg while it is small enough to label, a compact
drawing of the same layout past that (no labels or tooltips, all edges in two paths), because a browser
redraws 10,000 labelled nodes in seconds, not in the fraction of one a live view needs."""

from __future__ import annotations

from html import escape

from dgm.report.colors import score_color
from dgm.report.layout import edges
from dgm.report.model import RunView
from dgm.report.tree_svg import R, canvas, tree_svg

LABELLED_MAX = 1500  # nodes: up to this many, the report's own drawing


def lineage_svg(view: RunView) -> str:
    """An <svg id="lineage"> whose node groups carry class "node", data-node and id "tree-node-<id>"."""
    return tree_svg(view) if len(view.nodes) <= LABELLED_MAX else compact_svg(view)


def compact_svg(view: RunView) -> str:
    """The report's layout, colours and marks with fewer elements: a circle a node, two paths of edges."""
    _, on_path, path_edges, width, height, xy = canvas(view)

    plain, best = [], []
    for parent, child in edges(view.parents):
        (x1, y1), (x2, y2) = xy(parent), xy(child)
        ym = (y1 + y2) / 2
        d = f"M{x1:.0f},{y1 + R:.0f}C{x1:.0f},{ym:.0f} {x2:.0f},{ym:.0f} {x2:.0f},{y2 - R:.0f}"
        (best if (parent, child) in path_edges else plain).append(d)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage compact" id="lineage" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="lineage tree">',
           f'<path class="edge" d="{"".join(plain)}"/><path class="edge best-path" d="{"".join(best)}"/>']
    for nv in view.nodes:
        node = nv.node
        x, y = xy(node.id)
        kind = "admitted" if node.status == "admitted" else "pending" if node.status == "pending" else "rejected"
        classes = ["node", kind] + (["on-path"] if node.id in on_path else []) + (
            ["best"] if node.id == view.best_id else [])
        nid = escape(node.id, quote=True)
        ring = f'<circle class="best-ring" r="{R + 6}"/>' if node.id == view.best_id else ""
        cross = f'<path class="cross" d="M{R - 6},{-R - 2}l8,8m0,-8l-8,8"/>' if kind == "rejected" else ""
        out.append(f'<g class="{" ".join(classes)}" data-node="{nid}" id="tree-node-{nid}" tabindex="0" '
                   f'role="button" transform="translate({x:.0f},{y:.0f})">{ring}<circle class="dot" r="{R}" '
                   f'fill="{score_color(node.score)}"/>{cross}</g>')
    out.append("</svg>")
    return "".join(out)
