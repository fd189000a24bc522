"""The tree's records mark every node as the report's tree does, and a change carries only what changed."""

from __future__ import annotations

import re
from pathlib import Path

from dgm.report.tree_svg import tree_svg
from dgm.serve import tree
from dgm.serve.reader import RunReader
from tests.serve.conftest import add_child


def report_marks(svg: str) -> dict[str, tuple[set, str, tuple[float, float]]]:
    """node id -> (marks, fill, position) of every node group of the report's tree."""
    out = {}
    for m in re.finditer(r'<g class="([^"]*)" data-node="([^"]*)" id="tree-node-\2"[^>]*'
                         r'transform="translate\(([\d.]+),([\d.]+)\)".*?</g>', svg, re.S):
        fill = re.search(r'class="dot" r="\d+" fill="([^"]+)"', m.group(0)).group(1)
        out[m.group(2)] = (set(m.group(1).split()) - {"node"}, fill, (float(m.group(3)), float(m.group(4))))
    return out


def test_records_mark_nodes_as_the_report_does(run: Path, tmp_path: Path) -> None:
    from dgm.archive import Archive

    with Archive.open(run) as archive:
        add_child(archive, tmp_path, "1", "n2", "retry = 5", status="rejected:below gate", resolved=[True, False])
        add_child(archive, tmp_path, "0", "n3", "retry = 7", status="pending", resolved=[])
    view = RunReader(run).snapshot().view
    recs, _, _ = tree.records(view)
    ours = {k: (set(r[4].split()), r[5], (r[2], r[3])) for k, r in recs.items()}
    assert ours == report_marks(tree_svg(view))
    assert "best" in ours["1"][0] and "on-path" in ours["0"][0] and "rejected" in ours["2"][0]
    assert recs["2"][1] == "1" and recs["0"][1] is None
    assert recs["2"][8] == "node 2 · gen 2 · rejected:below gate · score 0.50"


def test_a_change_carries_only_new_changed_and_moved_nodes(run: Path, tmp_path: Path) -> None:
    from dgm.archive import Archive

    reader = RunReader(run)
    with Archive.open(run) as archive:
        for k in range(2, 8):  # a row of leaves under the seed, to the right of node 1
            add_child(archive, tmp_path, "0", f"n{k}", f"retry = {k}", status="rejected:below gate",
                      resolved=[False, False])
        add_child(archive, tmp_path, "1", "n8", "retry = 8", status="rejected:below gate", resolved=[False, False])
        before = reader.snapshot()
        new = add_child(archive, tmp_path, "1", "n9", "retry = 9", status="rejected:below gate",
                        resolved=[False, False])
    after = reader.snapshot()
    change = tree.delta(before.records, after.records, after.width, after.height)
    assert [r[0] for r in change["nodes"]] == [new]  # the new node only: nothing else changed its marks
    moves = dict(zip(change["moves"][0::3], zip(change["moves"][1::3], change["moves"][2::3])))
    # Node 1 got a second leaf: the leaves to its right shift a slot, 1 and the seed re-centre, 8 stays.
    assert set(moves) == {"0", "1", "2", "3", "4", "5", "6", "7"}
    assert all(after.records[k][2:4] == xy for k, xy in moves.items())
    chain = reader.deltas_since(before.token)
    assert chain is not None and [to for to, _ in chain] == [after.token]
    assert reader.deltas_since("no such token") is None
