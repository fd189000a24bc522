"""The lineage graph: attributes, clade queries, exports that parse back, terminal tree."""

from __future__ import annotations

import io
import json
from pathlib import Path

import networkx as nx
import pydot
import pytest
from rich.console import Console

from dgm.archive import Archive, Node
from dgm.archive import lineage


@pytest.fixture
def family(archive: Archive, make_tree) -> Archive:
    # 0 ─┬─ 1 ─┬─ 3
    #    │     └─ 4 (rejected)
    #    └─ 2 ── 5
    archive.update_node("0", results={"t1": {"resolved": False}, "t2": {"resolved": True}})
    archive.add_node("0", make_tree(1), status="admitted", diagnosis={"issue": "edits \"quoted\""})
    archive.add_node("0", make_tree(2), status="admitted")
    archive.add_node("1", make_tree(3), status="admitted", improvement_task="retry\non failure")
    archive.add_node("1", make_tree(4), status="rejected:empty patch")
    archive.add_node("2", make_tree(5))
    archive.record_result("3", "t1", {"resolved": True, "stage": 0})
    return archive


def test_graph_has_records_as_attributes(family: Archive) -> None:
    g = family.graph()
    assert set(g.nodes) == {"0", "1", "2", "3", "4", "5"}
    assert set(g.edges) == {("0", "1"), ("0", "2"), ("1", "3"), ("1", "4"), ("2", "5")}
    assert g.nodes["3"]["score"] == 1.0 and g.nodes["3"]["results"]["t1"]["stage"] == 0
    assert g.nodes["4"]["status"] == "rejected:empty patch"
    assert g.nodes["0"]["score"] == 0.5 and g.nodes["0"]["parent_id"] is None
    json.dumps(dict(g.nodes(data=True)))  # JSON-able


def test_clade_queries(family: Archive) -> None:
    g = family.graph()
    assert lineage.clade(g, "1") == {"1", "3", "4"}
    assert lineage.clade(g, "5") == {"5"}
    assert set(lineage.subtree(g, "2").edges) == {("2", "5")}
    assert lineage.path_from_root(g, "3") == ["0", "1", "3"]
    assert lineage.clade_stats(g, "1") == {"size": 3, "admitted": 2, "best_score": 1.0}


def test_json_export_round_trips(family: Archive, tmp_path: Path) -> None:
    g = family.graph()
    out = lineage.export(g, "json", tmp_path / "g.json")
    back = nx.node_link_graph(json.loads(out.read_text()), directed=True)
    assert set(back.edges) == set(g.edges)
    assert back.nodes["1"]["diagnosis"] == {"issue": "edits \"quoted\""}


def test_graphml_parses_with_networkx(family: Archive, tmp_path: Path) -> None:
    family.update_node("2", improvement_task='use <tags> & "quotes"\x01', cost_usd=1, tokens_in=7)
    g = family.graph()
    back = nx.read_graphml(lineage.export(g, "graphml", tmp_path / "g.graphml"))
    assert set(back.edges) == set(g.edges)
    assert back.nodes["3"]["score"] == 1.0
    assert json.loads(back.nodes["3"]["results"]) == {"t1": {"resolved": True, "stage": 0}}
    assert "score" not in back.nodes["1"]  # None dropped
    assert "parent_id" not in back.nodes["0"]
    assert back.nodes["3"]["improvement_task"] == "retry\non failure"
    assert back.nodes["2"]["improvement_task"] == 'use <tags> & "quotes"'  # XML-illegal char dropped
    assert back.nodes["2"]["cost_usd"] == 1.0 and back.nodes["2"]["tokens_in"] == 7
    assert back.nodes["0"]["generation"] == 0


def test_dot_parses_with_pydot(family: Archive, tmp_path: Path) -> None:
    g = family.graph()
    text = lineage.export(g, "dot", tmp_path / "g.dot").read_text()
    (graph,) = pydot.graph_from_dot_data(text)
    names = {n.get_name().strip('"') for n in graph.get_nodes()} - {"node"}
    assert names == set(g.nodes)
    edges = {(e.get_source().strip('"'), e.get_destination().strip('"')) for e in graph.get_edges()}
    assert edges == set(g.edges)
    node4 = graph.get_node('"4"')[0]
    assert node4.get("status").strip('"') == "rejected:empty patch"
    assert node4.get("fillcolor").strip('"') == "lightpink"


def test_terminal_tree_shows_status_score_generation_children(family: Archive) -> None:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(lineage.render_tree(family.graph()))
    text = console.file.getvalue()
    assert "0 admitted score=0.500 gen=0 children=2" in text
    assert "3 admitted score=1.000 gen=2 children=0" in text
    assert "4 rejected:empty patch score=- gen=2 children=0" in text
    assert text.index("1 admitted") < text.index("3 admitted") < text.index("2 admitted")
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(lineage.render_tree(family.graph(), max_depth=1))
    text = console.file.getvalue()
    assert "3 admitted" not in text and "… 2 more" in text


def test_deep_lineage_does_not_recurse() -> None:
    chain = [Node(id=str(i), commit="0" * 40, parent_id=None if i == 0 else str(i - 1),
                  generation=i, status="admitted") for i in range(3000)]
    g = lineage.build_graph(chain)
    assert lineage.path_from_root(g, "2999")[:2] == ["0", "1"]
    assert len(lineage.clade(g, "1")) == 2999
    console = Console(file=io.StringIO(), width=1000, color_system=None)
    console.print(lineage.render_tree(g, max_depth=5))
    assert "… 2994 more" in console.file.getvalue()
