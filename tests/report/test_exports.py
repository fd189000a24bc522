"""`dgm archive lineage --format ...` end to end from a real archive; each export read by its own reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dgm.cli import main


@pytest.mark.parametrize("fmt", ["json", "graphml", "dot", "html", "png"])
def test_every_export_parses(run_dir: tuple[Path, dict], fmt: str, tmp_path: Path) -> None:
    run, ids = run_dir
    out = tmp_path / f"lineage.{fmt}"
    assert main(["archive", "lineage", str(run), "--format", fmt, "--output", str(out)]) == 0
    expected_nodes = {str(i) for i in range(7)}
    expected_edges = {("0", ids["a"]), ("0", ids["b"]), (ids["a"], ids["c"]), (ids["a"], ids["d"]),
                      (ids["c"], ids["e"]), (ids["c"], ids["f"])}
    if fmt == "json":
        import networkx as nx

        g = nx.node_link_graph(json.loads(out.read_text()), directed=True)
        assert set(g.nodes) == expected_nodes and set(g.edges) == expected_edges
        assert g.nodes[ids["best"]]["score"] == 0.75
    elif fmt == "graphml":
        import networkx as nx

        g = nx.read_graphml(out)
        assert set(g.nodes) == expected_nodes and set(g.edges) == expected_edges
        assert g.nodes[ids["b"]]["status"] == "rejected:does not compile"
    elif fmt == "dot":
        import pydot

        (graph,) = pydot.graph_from_dot_data(out.read_text())
        names = {n.get_name().strip('"') for n in graph.get_nodes()} - {"node", "edge", "graph"}
        edges = {(e.get_source().strip('"'), e.get_destination().strip('"')) for e in graph.get_edges()}
        assert names == expected_nodes and edges == expected_edges
    elif fmt == "html":
        from tests.report.test_report import _Collect

        parsed = _Collect()
        parsed.feed(out.read_text())
        assert set(parsed.nodes) == expected_nodes and parsed.external == []
    else:
        import matplotlib.image

        image = matplotlib.image.imread(out)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300
        # Not a blank canvas: the viridis-coloured nodes and the red best path are drawn.
        assert image[..., :3].std() > 0.05


def test_default_output_is_in_the_run(run_dir: tuple[Path, dict]) -> None:
    run, _ = run_dir
    assert main(["archive", "lineage", str(run), "--format", "png"]) == 0
    assert (run / "lineage.png").read_bytes().startswith(b"\x89PNG")
