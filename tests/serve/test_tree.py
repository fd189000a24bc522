"""The compact tree drawn past LABELLED_MAX nodes marks every node as the report's tree does."""

from __future__ import annotations

import re
from pathlib import Path

from dgm.report.tree_svg import tree_svg
from dgm.serve.reader import RunReader
from dgm.serve.tree import compact_svg
from tests.serve.conftest import add_child


def marks(svg: str) -> dict[str, tuple[str, str, bool]]:
    """node id -> (classes, fill, crossed) of every node group."""
    out = {}
    for m in re.finditer(r'<g class="([^"]*)" data-node="([^"]*)" id="tree-node-\2".*?</g>', svg, re.S):
        fill = re.search(r'class="dot" r="\d+" fill="([^"]+)"', m.group(0)).group(1)
        out[m.group(2)] = (m.group(1), fill, 'class="cross"' in m.group(0))
    return out


def test_compact_tree_marks_nodes_as_the_report_does(run: Path, tmp_path: Path) -> None:
    from dgm.archive import Archive

    with Archive.open(run) as archive:
        add_child(archive, tmp_path, "1", "n2", "retry = 5", status="rejected:below gate", resolved=[True, False])
        add_child(archive, tmp_path, "0", "n3", "retry = 7", status="pending", resolved=[])
    view = RunReader(run).snapshot().view
    full, compact = marks(tree_svg(view)), marks(compact_svg(view))
    assert set(full) == {"0", "1", "2", "3"} and compact == full
    assert "best" in compact["1"][0] and "on-path" in compact["0"][0] and compact["2"][2]
    assert compact_svg(view).count('class="best-ring"') == 1
    assert re.search(r'<path class="edge best-path" d="M[^"]+"', compact_svg(view))
