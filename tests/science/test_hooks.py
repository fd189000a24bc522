"""The loop's calls into the instruments: what they write and what they log."""

from __future__ import annotations

import json

from dgm.science.hooks import DIVERSITY_FILE, on_verdict
from tests.science.conftest import results

FIVE = ("a", "b", "c", "d", "e")


def test_an_admission_logs_diversity_and_the_collapse_alarm(make_archive, seed) -> None:
    archive = make_archive(results("a", FIVE), [("0", "admitted", results("de", FIVE)),
                                                ("0", "admitted", results("bc", FIVE)),
                                                ("0", "admitted", results("bcd", FIVE))])
    lines: list[str] = []
    on_verdict(archive, "3", True, {}, lines.append)
    assert lines == ["diversity after node 3: pass@1 0.600, pass@all 1.000, coverage 1.000, distinct solved sets 4"]
    archive.add_node("0", seed, status="admitted", results=results("bcd", FIVE))
    on_verdict(archive, "4", True, {}, lines.append)
    assert lines[-1] == "collapse alarm: over the last 3 admissions pass@1 rose while pass@2 fell"
    rows = [json.loads(x) for x in (archive.path / DIVERSITY_FILE).read_text().splitlines()]
    assert [r["node_id"] for r in rows] == ["3", "4"] and rows[-1]["alarm"] is True
    verdicts = json.loads((archive.path / "artifacts" / "4" / "verifiers.json").read_text())
    assert [v["name"] for v in verdicts][:2] == ["hidden_tests", "wider_tests"]


def test_a_rejection_records_verifiers_but_no_diversity(make_archive) -> None:
    archive = make_archive(results("ab"), [("0", "rejected:below gate", results(""))])
    lines: list[str] = []
    on_verdict(archive, "1", False, {}, lines.append, gating=["hidden_tests"])
    assert lines == [] and not (archive.path / DIVERSITY_FILE).exists()
    row = json.loads((archive.path / "artifacts" / "1" / "verifiers.json").read_text())
    assert row[0] == {"name": "hidden_tests", "passed": False, "gate": True,
                      "evidence": ["resolved 0/4 of the tasks the parent resolved 2/4 of"]}
    assert [v["gate"] for v in row[1:]] == [False] * 5
