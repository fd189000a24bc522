"""The lineage graph: a networkx view of the archive, clade queries, exports, terminal tree."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from dgm.archive.node import Node

if TYPE_CHECKING:
    import networkx
    import rich.tree

EXPORT_FORMATS = ("json", "graphml", "dot")
# Scalar fields a DOT drawing carries; nested data (results, diagnosis) stays in json/graphml.
DOT_FIELDS = ("commit", "parent_id", "generation", "status", "score", "improvement_task",
              "tokens_in", "tokens_out", "cost_usd", "wall_seconds", "created_at", "updated_at")
STATUS_COLOURS = {"admitted": "palegreen", "pending": "lightgrey", "rejected": "lightpink"}


def build_graph(nodes: Iterable[Node]) -> "networkx.DiGraph":
    """DiGraph with an edge parent -> child; node attributes are the records' fields."""
    import networkx as nx

    from dgm.archive.index import gc_paused

    g = nx.DiGraph()
    nodes = list(nodes)
    with gc_paused():
        g.add_nodes_from((n.id, n.to_dict()) for n in nodes)
        g.add_edges_from((n.parent_id, n.id) for n in nodes if n.parent_id is not None)
    return g


def clade(g: "networkx.DiGraph", node_id: str) -> set[str]:
    """The node and all its descendants."""
    import networkx as nx

    return {node_id} | nx.descendants(g, node_id)


def subtree(g: "networkx.DiGraph", node_id: str) -> "networkx.DiGraph":
    """A copy of the graph restricted to `node_id`'s clade."""
    return g.subgraph(clade(g, node_id)).copy()


def path_from_root(g: "networkx.DiGraph", node_id: str) -> list[str]:
    """Ids from the root down to `node_id`."""
    path = [node_id]
    while True:
        preds = list(g.predecessors(path[-1]))
        if not preds:
            return path[::-1]
        path.append(preds[0])


def clade_stats(g: "networkx.DiGraph", node_id: str) -> dict[str, Any]:
    """Size, admitted count and best score within a clade."""
    members = [g.nodes[i] for i in clade(g, node_id)]
    scores = [m["score"] for m in members if m.get("status") == "admitted" and m.get("score") is not None]
    return {
        "size": len(members),
        "admitted": sum(1 for m in members if m.get("status") == "admitted"),
        "best_score": max(scores) if scores else None,
    }


# ---- exports ----------------------------------------------------------------------------
def to_json(g: "networkx.DiGraph") -> str:
    """networkx node-link JSON (read back with networkx.node_link_graph)."""
    import networkx as nx

    return json.dumps(nx.node_link_data(g), sort_keys=True)


GRAPHML_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}
# Characters XML 1.0 cannot carry at all; diagnoses and task text may contain them.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _graphml_value(v: Any) -> Any:
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, sort_keys=True)
    return v if isinstance(v, (bool, int, float, str)) else str(v)


def _xml_text(v: Any) -> str:
    if v is True or v is False:
        return "true" if v else "false"
    if not isinstance(v, str):
        return repr(v)
    if _XML_ILLEGAL.search(v):
        v = _XML_ILLEGAL.sub("", v)
    return v.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def to_graphml(g: "networkx.DiGraph") -> str:
    """GraphML: dicts and lists become JSON strings, None is dropped (GraphML has no null).

    Written directly rather than through networkx's ElementTree writer, which is several
    times slower on large archives; networkx.read_graphml reads it back.
    """
    rows = []
    kinds: dict[str, str] = {}
    for node_id, attrs in g.nodes(data=True):
        data = {k: _graphml_value(v) for k, v in attrs.items() if v is not None}
        for k, v in data.items():
            kind = GRAPHML_TYPES[type(v)]
            seen = kinds.get(k)
            if seen is None or seen == kind:
                kinds[k] = kind
            elif {seen, kind} == {"long", "double"}:
                kinds[k] = "double"
            else:
                kinds[k] = "string"
        rows.append((node_id, data))
    keys = {name: f"d{i}" for i, name in enumerate(kinds)}
    out = ["<?xml version='1.0' encoding='utf-8'?>",
           '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
           'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
           'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">']
    out += [f'  <key id="{keys[k]}" for="node" attr.name="{_xml_text(k)}" attr.type="{t}" />'
            for k, t in kinds.items()]
    out.append('  <graph edgedefault="directed">')
    for node_id, data in rows:
        cells = "".join(f'<data key="{keys[k]}">{_xml_text(v)}</data>' for k, v in data.items())
        out.append(f'    <node id="{_xml_text(node_id)}">{cells}</node>')
    out += [f'    <edge source="{_xml_text(a)}" target="{_xml_text(b)}" />' for a, b in g.edges()]
    out += ["  </graph>", "</graphml>"]
    return "\n".join(out) + "\n"


def _dot_quote(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(g: "networkx.DiGraph") -> str:
    """Graphviz DOT, written directly (pydot's writer is too slow for large archives)."""
    lines = ["digraph lineage {", "  node [shape=box, style=filled, fontname=Helvetica];"]
    for node_id, attrs in g.nodes(data=True):
        status = str(attrs.get("status", ""))
        score = attrs.get("score")
        label = f"{node_id}\n{status}\n" + ("-" if score is None else f"{score:.2f}")
        fields = {k: attrs[k] for k in DOT_FIELDS if attrs.get(k) is not None}
        fields["label"] = label
        fields["fillcolor"] = STATUS_COLOURS.get(status.split(":", 1)[0], "white")
        body = ", ".join(f"{k}={_dot_quote(v)}" for k, v in fields.items())
        lines.append(f"  {_dot_quote(node_id)} [{body}];")
    for a, b in g.edges():
        lines.append(f"  {_dot_quote(a)} -> {_dot_quote(b)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


EXPORTERS = {"json": to_json, "graphml": to_graphml, "dot": to_dot}


def export(g: "networkx.DiGraph", fmt: str, out: Path) -> Path:
    """Write the graph in `fmt` (json, graphml, dot) to `out`."""
    out = Path(out)
    out.write_text(EXPORTERS[fmt](g), encoding="utf-8")
    return out


# ---- terminal tree ------------------------------------------------------------------------
def render_tree(g: "networkx.DiGraph", root: str = "0", max_depth: int | None = None) -> "rich.tree.Tree":
    """A rich Tree: id, status, score, generation and number of children per node."""
    from rich.markup import escape
    from rich.tree import Tree

    from dgm.terminal import inert

    def label(node_id: str) -> str:
        a = g.nodes[node_id]
        status = str(a.get("status", "?"))
        colour = {"admitted": "green", "pending": "yellow"}.get(status, "red")
        status = escape(inert(status, lines=False))  # a rejection reason is data, not markup
        score = a.get("score")
        score_text = "-" if score is None else f"{score:.3f}"
        return (f"[bold]{node_id}[/bold] [{colour}]{status}[/{colour}] score={score_text} "
                f"gen={a.get('generation')} children={g.out_degree(node_id)}")

    top = Tree(label(root))
    stack = [(root, top, 0)]
    while stack:  # iterative: deep lineages must not hit the recursion limit
        node_id, branch, depth = stack.pop()
        kids = sorted(g.successors(node_id), key=int)
        if max_depth is not None and depth >= max_depth:
            if kids:
                branch.add(f"[dim]… {len(clade(g, node_id)) - 1} more[/dim]")
            continue
        subs = [(k, branch.add(label(k))) for k in kids]
        stack.extend((k, b, depth + 1) for k, b in reversed(subs))
    return top


def summary(nodes: Sequence[Node]) -> dict[str, Any]:
    """Counts by status and the best admitted score."""
    admitted = [n for n in nodes if n.admitted]
    scored = [n.score for n in admitted if n.score is not None]
    return {
        "nodes": len(nodes),
        "admitted": len(admitted),
        "pending": sum(1 for n in nodes if n.status == "pending"),
        "rejected": sum(1 for n in nodes if n.rejected),
        "best_score": max(scored) if scored else None,
    }
