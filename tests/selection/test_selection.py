"""Parent-selection strategies on hand-built node lists (and one real archive)."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from dgm.archive import Archive, Node
from dgm.errors import ArchiveError, BadInput
from dgm.selection import (
    SELECTORS, Best, HgmThompson, ScoreChildProp, ScoreProp, clade_counts, make_selector,
    select_parents,
)


def node(nid: str, score: float | None, status: str = "admitted", parent: str | None = "0",
         generation: int = 1, results: dict | None = None) -> Node:
    return Node(id=nid, commit="0" * 40, parent_id=None if nid == "0" else parent,
                generation=0 if nid == "0" else generation, status=status, score=score,
                results=results or {})


HAND = [
    node("0", 0.5),
    node("1", 0.8),
    node("2", 0.2),
    node("3", 1.0),
    node("4", 0.9, status="rejected:broke its tests"),
    node("5", None, status="pending"),
    node("6", None),                      # admitted but not evaluated yet
]
CHILDREN = {"0": 2, "1": 0, "2": 1, "3": 3, "4": 0, "5": 0, "6": 0}


def test_score_child_prop_exact_probabilities() -> None:
    # sigmoid(10 (a - 0.5)) / (1 + n): 0.5/3, sigmoid(3)/1, sigmoid(-3)/2, sigmoid(5)/4
    weights = {"0": 0.16666666666666666, "1": 0.9525741268224334,
               "2": 0.02371293658878339, "3": 0.24832678726892882}
    total = sum(weights.values())
    probs = ScoreChildProp().probabilities(HAND, CHILDREN)
    assert set(probs) == {"0", "1", "2", "3"}  # rejected, pending, unscored are no candidates
    for nid, w in weights.items():
        assert probs[nid] == pytest.approx(w / total, abs=1e-12)
    assert probs["1"] == pytest.approx(0.6846743808638988, abs=1e-12)


def test_score_child_prop_children_penalty_and_parameters() -> None:
    nodes = [node("0", 0.0), node("1", 0.5), node("2", 1.0), node("3", 1.0)]
    probs = ScoreChildProp().probabilities(nodes, {"3": 9})
    expected = [0.004184782335448143, 0.31263077444798276, 0.6210767665605175, 0.06210767665605175]
    assert [probs[i] for i in "0123"] == pytest.approx(expected, abs=1e-12)
    assert probs["2"] == pytest.approx(10 * probs["3"])  # 1/(1+0) vs 1/(1+9)
    flat = ScoreChildProp(lam=0.0).probabilities(nodes, {})
    assert all(p == pytest.approx(0.25) for p in flat.values())


def test_score_child_prop_draws_follow_the_probabilities() -> None:
    sel = ScoreChildProp()
    draws = sel.select(HAND, CHILDREN, 40000, random.Random(7))
    counts = Counter(draws)
    assert set(counts) <= {"0", "1", "2", "3"}
    for nid, p in sel.probabilities(HAND, CHILDREN).items():
        assert counts[nid] / len(draws) == pytest.approx(p, abs=0.01)


def test_best_takes_highest_scores_first() -> None:
    # Regression: the reference code sorted ascending and picked the worst agents.
    nodes = [node("0", 0.1), node("1", 0.9), node("2", 0.4), node("3", 0.7), node("4", 0.95, "pending")]
    assert Best().select(nodes, {}, 1, random.Random(0)) == ["1"]
    assert Best().select(nodes, {}, 3, random.Random(0)) == ["1", "3", "2"]
    assert Best().select(nodes, {}, 6, random.Random(0)) == ["1", "3", "2", "0", "1", "3"]


def test_best_breaks_ties_by_fewer_children_then_id() -> None:
    nodes = [node("0", 0.5), node("10", 0.8), node("2", 0.8), node("9", 0.8), node("3", 0.6)]
    ranking = Best().ranking(nodes, {"2": 1, "9": 0, "10": 0})
    assert ranking == ["9", "10", "2", "3", "0"]  # 9 before 10: numeric ids
    assert Best().select(nodes, {"2": 1, "9": 0, "10": 0}, 2, random.Random(0)) == ["9", "10"]
    assert Best().select(nodes, {"9": 1}, 1, random.Random(0)) == ["2"]
    assert Best().select(nodes, {}, 0, random.Random(0)) == []


def test_score_prop() -> None:
    nodes = [node("0", 0.0), node("1", 0.25), node("2", 0.75), node("3", 0.9, "rejected:x")]
    sel = ScoreProp()
    assert sel.probabilities(nodes, {}) == {"0": 0.0, "1": 0.25, "2": 0.75}
    counts = Counter(sel.select(nodes, {}, 20000, random.Random(3)))
    assert counts["0"] == 0 and counts["3"] == 0
    assert counts["2"] / 20000 == pytest.approx(0.75, abs=0.015)
    zeros = [node("0", 0.0), node("1", 0.0)]
    assert sel.probabilities(zeros, {}) == {"0": 0.5, "1": 0.5}
    assert set(sel.select(zeros, {}, 200, random.Random(1))) == {"0", "1"}


def test_random_is_uniform_over_candidates() -> None:
    counts = Counter(make_selector("random").select(HAND, CHILDREN, 40000, random.Random(11)))
    assert set(counts) == {"0", "1", "2", "3"}
    for nid in "0123":
        assert counts[nid] / 40000 == pytest.approx(0.25, abs=0.01)


def _clade_archive() -> list[Node]:
    def res(wins: int, losses: int) -> dict:
        out = {f"w{i}": {"resolved": True} for i in range(wins)}
        out.update({f"l{i}": {"resolved": False} for i in range(losses)})
        return out

    # 0 ─┬─ 1 (3/10) ─┬─ 3 (9/10) ── 5 (10/10)
    #    │            └─ 4 rejected (10/10: must not count)
    #    └─ 2 (6/10)
    return [
        node("0", 0.4, results=res(4, 6)),
        node("1", 0.3, parent="0", generation=1, results=res(3, 7)),
        node("2", 0.6, parent="0", generation=1, results=res(6, 4)),
        node("3", 0.9, parent="1", generation=2, results=res(9, 1)),
        node("4", 1.0, status="rejected:x", parent="1", generation=2, results=res(10, 0)),
        node("5", 1.0, parent="3", generation=3, results=res(10, 0)),
    ]


def test_clade_counts_sum_admitted_subtrees() -> None:
    counts = clade_counts(_clade_archive())
    assert counts["5"] == (10, 0)
    assert counts["3"] == (19, 1)
    assert counts["1"] == (22, 8)       # 3/7 own + clade of 3; rejected 4 adds nothing
    assert counts["2"] == (6, 4)
    assert counts["0"] == (32, 18)
    assert counts["4"] == (0, 0)


def test_hgm_thompson_prefers_strong_clades() -> None:
    nodes = _clade_archive()
    draws = Counter(HgmThompson().select(nodes, {}, 20000, random.Random(5)))
    assert "4" not in draws
    # Node 1 scores 0.3 itself but heads a strong clade (22/30): it beats node 2 (6/10 own).
    assert draws["1"] > draws["2"]
    assert draws["5"] > draws["3"] > draws["1"]
    # Beta(11, 1) vs Beta(20, 2): P(5 wins) is high but not certain.
    assert 0.4 < draws["5"] / 20000 < 0.8


def test_seeded_and_reproducible() -> None:
    nodes = _clade_archive()
    for name in SELECTORS:
        sel = make_selector(name)
        a = sel.select(nodes, {"0": 2, "1": 2, "3": 1}, 25, random.Random(42))
        b = sel.select(nodes, {"0": 2, "1": 2, "3": 1}, 25, random.Random(42))
        assert a == b and len(a) == 25
        if name not in ("best", "performance_novelty"):  # the two deterministic rankings
            c = sel.select(nodes, {"0": 2, "1": 2, "3": 1}, 25, random.Random(43))
            assert a != c


def test_errors() -> None:
    with pytest.raises(BadInput, match="unknown selection strategy"):
        make_selector("worst")
    with pytest.raises(BadInput, match="bad parameters"):
        make_selector("score_child_prop", temperature=2)
    with pytest.raises(ArchiveError, match="no admitted node with a score"):
        make_selector("score_child_prop").select([node("0", None)], {}, 2, random.Random(0))
    with pytest.raises(BadInput):
        make_selector("best").select(HAND, {}, -1, random.Random(0))
    assert make_selector("hgm_thompson").select(HAND, {}, 0, random.Random(0)) == []
    assert make_selector("score_child_prop", lam=5.0, alpha0=0.3).lam == 5.0


def test_select_parents_on_a_real_archive(tmp_path: Path) -> None:
    tree = tmp_path / "agent"
    tree.mkdir()
    (tree / "agent.py").write_text("print(0)\n")
    with Archive.create(tmp_path / "run", tree) as archive:
        archive.record_result("0", "t1", {"resolved": False})
        for i in range(3):
            (tree / "agent.py").write_text(f"print({i + 1})\n")
            archive.add_node("0", tree, status="admitted")
        (tree / "agent.py").write_text("print(9)\n")
        archive.add_node("1", tree, status="rejected:broken")
        archive.record_result("1", "t1", {"resolved": True})
        archive.record_result("2", "t1", {"resolved": True})
        # node 3 is admitted but unevaluated: never chosen.
        assert archive.children_counts() == {"0": 3, "1": 1, "2": 0, "3": 0, "4": 0}
        probs = ScoreChildProp().probabilities(archive.nodes(), archive.children_counts())
        assert set(probs) == {"0", "1", "2"}
        assert probs["2"] == pytest.approx(2 * probs["1"])  # same score, 0 vs 1 child
        assert select_parents(archive, Best(), 2, random.Random(0)) == ["2", "1"]


def test_clade_counts_agree_on_deep_and_shallow_lineages() -> None:
    """The per-generation and per-node accumulation paths give the same sums."""
    rng = random.Random(3)
    nodes = [node("0", 0.5, results={"a": {"resolved": True}, "b": {"resolved": False}})]
    for i in range(1, 400):
        parent = nodes[rng.randrange(max(0, i - 3), i)]
        results = {f"t{j}": {"resolved": rng.random() < 0.5} for j in range(rng.randrange(4))}
        status = rng.choice(["admitted", "admitted", "pending"])
        nodes.append(node(str(i), None if not results else
                          sum(r["resolved"] for r in results.values()) / len(results),
                          status=status, parent=parent.id, generation=parent.generation + 1,
                          results=results))
    assert max(n.generation for n in nodes) > 64  # the deep path

    def brute(members: list[Node], nid: str) -> tuple[int, int]:
        by_id = {n.id: n for n in members}
        s = f = 0
        for n in members:
            cur = n
            while cur is not None and cur.id != nid:
                cur = by_id.get(cur.parent_id)
            if cur is not None and n.status == "admitted":
                s += n.resolved_count
                f += n.evaluated_count - n.resolved_count
        return s, f

    counts = clade_counts(nodes)
    for n in nodes[::7]:
        assert counts[n.id] == brute(nodes, n.id)
    shallow = nodes[:40]  # fewer than 64 generations: the vectorised path
    assert max(n.generation for n in shallow) < 64
    shallow_counts = clade_counts(shallow)
    for n in shallow:
        assert shallow_counts[n.id] == brute(shallow, n.id)
