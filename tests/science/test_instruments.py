"""Exact numbers on hand-made archives: pass@k, coverage, Jaccard, distinct sets, the collapse alarm,
novelty and performance-novelty selection, AUROC, Brier, calibration, the gap, predictions."""

from __future__ import annotations

import math
import random

import pytest

from dgm.science import calibration, diversity, novelty, predictions
from dgm.science.analyze import analysis
from dgm.selection import make_selector, select_parents
from tests.science.conftest import results


@pytest.fixture
def four(make_archive):
    # solved sets: 0 {a,b}, 1 {a,c}, 2 {a,b,c}, 3 {d}; node 4 is rejected and never counts
    return make_archive(results("ab"), [("0", "admitted", results("ac")), ("0", "admitted", results("abc")),
                                        ("1", "admitted", results("d")), ("0", "rejected:below gate", results(""))])


def test_pass_at_k_coverage_jaccard_distinct(four) -> None:
    nodes = four.nodes()
    assert [n.id for n in diversity.ranked(nodes)] == ["2", "0", "1", "3"]
    assert diversity.pass_at_k(nodes, 1) == 0.75          # node 2 alone: a, b, c of 4
    assert diversity.pass_at_k(nodes, 2) == 0.75          # 2 and 0 add nothing
    assert diversity.pass_at_k(nodes, 5) == 1.0           # everyone: d from node 3
    assert diversity.pass_at_k(nodes, None) == 1.0
    assert diversity.coverage(nodes) == 1.0
    # pairs: 0-1 2/3, 0-2 1/3, 0-3 1, 1-2 1/3, 1-3 1, 2-3 1  -> 13/3 over 6
    assert diversity.mean_jaccard(nodes) == pytest.approx(13 / 18)
    assert diversity.distinct_sets(nodes) == 4
    assert diversity.jaccard_distance(frozenset(), frozenset()) == 0.0


def test_pass_at_k_counts_only_the_tasks_all_top_k_ran(make_archive) -> None:
    archive = make_archive(results("abc"), [("0", "admitted", results("a", tasks=("a", "b")))])
    nodes = archive.nodes()
    assert [n.id for n in diversity.ranked(nodes)] == ["0", "1"]   # 0.75 beats 0.5
    assert diversity.pass_at_k(nodes, 1) == 0.75
    assert diversity.pass_at_k(nodes, 2) == 1.0                     # a, b of {a, b}: c is outside node 1's tasks
    assert diversity.coverage(nodes) == 0.75                        # a, b, c of a, b, c, d


def test_collapse_alarm_fires_when_pass1_rises_and_pass2_falls(make_archive) -> None:
    five = ("a", "b", "c", "d", "e")
    archive = make_archive(results("a", five), [("0", "admitted", results("de", five)),
                                                ("0", "admitted", results("bc", five)),
                                                ("0", "admitted", results("bcd", five)),
                                                ("0", "admitted", results("bcd", five))])
    snaps = diversity.history(archive.nodes())
    assert [s.pass_at["1"] for s in snaps] == [0.2, 0.4, 0.4, 0.6, 0.6]
    assert [s.pass_at["2"] for s in snaps] == [0.2, 0.6, 0.8, 0.8, 0.6]
    assert [s.alarm for s in snaps] == [False, False, False, False, True]
    assert diversity.alarm_k(3) == 2 and diversity.alarm_k(6) == 5 and diversity.alarm_k(1) is None


def test_novelty_is_the_mean_cosine_distance_to_the_m_nearest(four) -> None:
    nodes = [n for n in four.nodes() if n.status == "admitted"]
    d02 = 1 - 2 / math.sqrt(6)                # (1,1,0,0) vs (1,1,1,0)
    assert novelty.cosine_distance([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.5)
    got = novelty.novelty(nodes)
    assert got["0"] == pytest.approx((0.5 + d02 + 1) / 3)
    assert got["2"] == pytest.approx((d02 + d02 + 1) / 3)
    assert got["3"] == pytest.approx(1.0)
    assert novelty.novelty(nodes, m=2)["0"] == pytest.approx((d02 + 0.5) / 2)
    assert novelty.novelty(nodes[:1]) == {"0": 1.0}


def test_performance_novelty_ranks_by_score_times_novelty(four) -> None:
    selector = make_selector("performance_novelty")
    ranking = selector.ranking(four.nodes(), four.children_counts())
    d = 1 - 2 / math.sqrt(6)
    assert [i for i, _ in ranking] == ["2", "1", "0", "3"]   # 0 and 1 tie; 1 has fewer children
    assert ranking[0][1] == pytest.approx(0.75 * (2 * d + 1) / 3)
    assert select_parents(four, selector, 5, random.Random(0)) == ["2", "1", "0", "3", "2"]


PAIRS = [(0.9, True), (0.8, True), (0.6, False), (0.4, True), (0.3, False), (0.1, False)]


def test_verification_quality_exact() -> None:
    assert calibration.accuracy(PAIRS) == pytest.approx(4 / 6)
    assert calibration.brier(PAIRS) == pytest.approx(0.87 / 6)
    assert calibration.auroc(PAIRS) == pytest.approx(8 / 9)
    assert calibration.auroc([(0.5, True), (0.5, False)]) == 0.5
    assert calibration.auroc([(0.5, True)]) is None
    assert calibration.gap(PAIRS) == pytest.approx(2 / 3 - 1 / 2)
    assert calibration.gap([(0.1, True)]) is None                 # the model accepts nothing
    curve = calibration.curve(PAIRS)
    assert [(b["lo"], b["n"], b["resolved"]) for b in curve] == [
        (0.0, 1, 0.0), (0.2, 1, 0.0), (0.4, 1, 1.0), (0.6, 1, 0.0), (0.8, 2, 1.0)]
    assert curve[-1]["mean_p"] == pytest.approx(0.85)
    lo, hi = calibration.bootstrap_ci(PAIRS)
    assert lo <= calibration.gap(PAIRS) <= hi and (lo, hi) == calibration.bootstrap_ci(PAIRS)


def test_the_gap_from_results_stored_in_the_archive(make_archive) -> None:
    p = {"a": 0.9, "b": 0.8, "c": 0.6, "d": 0.4}
    archive = make_archive(results("abd", p=p), [("0", "admitted", results("a", p={"a": 0.3, "b": 0.1}))])
    data = analysis(archive, facts={})
    overall = data["verification"]["overall"]
    # pairs: (.9 T) (.8 T) (.6 F) (.4 T) (.3 T) (.1 F)
    assert overall["runs"] == 6 and overall["resolve_rate"] == pytest.approx(4 / 6)
    assert overall["auroc"] == pytest.approx(6 / 8)         # .4 and .3 each beat only .1
    assert overall["gap"] == pytest.approx(2 / 3 - 4 / 6)
    assert data["verification"]["by_agent"]["1"]["auroc"] == 1.0
    assert [q["node"] for q in data["verification"]["lineage"]] == ["0"]   # node 0 is the best (.75)
    assert data["cost"]["verify_tokens"] == 6 * 110


def test_predictions_scored_against_the_child() -> None:
    parent = results("ac")
    child = results("abd")
    s = predictions.score(parent, child, ["b", "e"], ["a"])
    assert s.fixed == ["b", "d"] and s.broken == ["c"]
    assert s.fix_precision == 1.0          # e was never run: not scored
    assert s.fix_recall == 0.5
    assert s.break_recall == 0.0
    assert predictions.id_list(["x", 3, " y ", ""]) == ["x", "y"] and predictions.id_list("x") == []


def test_prediction_totals_are_micro_averages_over_the_self_edits(make_archive) -> None:
    archive = make_archive(results("ab"), [("0", "admitted", results("abc")), ("0", "admitted", results("a"))])
    archive.update_node("1", diagnosis={"expected_fix": ["c", "d", "zz"], "may_break": []})
    archive.update_node("2", diagnosis={"expected_fix": ["d"], "may_break": ["a"]})
    total = analysis(archive, facts={})["predictions_total"]
    # node 1 fixed c (predicted c, d; zz never ran); node 2 fixed nothing, broke b (predicted a)
    assert total == {"edits": 2, "fixed": 1, "broken": 1, "fix_precision": 1 / 3, "fix_recall": 1.0,
                     "break_recall": 0.0}


def test_history_kept_up_agent_by_agent_equals_each_prefix_measured_afresh(make_archive) -> None:
    """history() grows its sums as each agent joins; every snapshot must equal snapshot() of that prefix,
    on an archive with ties in score, repeated solved sets and agents that ran different tasks."""
    rng = random.Random(7)
    children = []
    for i in range(24):
        ran = "abcdef" if i % 5 else "abcd"
        solved = "".join(t for t in ran if rng.random() < 0.4)
        children.append(("0", "admitted" if rng.random() < 0.8 else "rejected:below gate",
                         results(solved, ran)))
    nodes = make_archive(results("ab", "abcdef"), children).nodes()
    snaps = diversity.history(nodes)
    admitted = sorted((n for n in nodes if n.status == "admitted" and n.score is not None), key=lambda n: int(n.id))
    assert len(snaps) == len(admitted) > 15
    for i, snap in enumerate(snaps):
        want = diversity.snapshot(admitted[:i + 1], admitted[i].id)
        assert (snap.node_id, snap.admitted, snap.pass_at, snap.coverage, snap.distinct) == \
            (want.node_id, want.admitted, want.pass_at, want.coverage, want.distinct), i
        assert snap.jaccard == pytest.approx(want.jaccard) if want.jaccard is not None else snap.jaccard is None


def test_a_recorded_row_of_verdicts_is_read_back_and_a_malformed_one_is_not(tmp_path) -> None:
    from dgm.science import verifiers

    row = [verifiers.Verdict(name, (True, False, None)[i % 3], [f"evidence {i}"]) for i, name in enumerate(verifiers.NAMES)]
    path = tmp_path / "verifiers.json"
    verifiers.write(path, list(reversed(row)), gating=["patch_sanity"])
    assert verifiers.recorded(path) == row  # in NAMES order, whatever order it was written in
    text = path.read_text()
    for bad in (text.replace('"hidden_tests"', '"made_up"'), text.replace('"passed": false', '"passed": "no"', 1),
                text.replace('"evidence 0"', "7"), "[]", '{"a": 1}', "[" * 50 + "]" * 50):
        path.write_text(bad)
        assert verifiers.recorded(path) is None, bad[:80]
    path.unlink()
    (tmp_path / "elsewhere.json").write_text(text)
    path.symlink_to(tmp_path / "elsewhere.json")
    assert verifiers.recorded(path) is None  # a link is not a record
    assert verifiers.recorded(tmp_path / "absent.json") is None
