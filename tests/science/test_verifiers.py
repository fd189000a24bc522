"""Named verifiers on a real archive with hand-written artifacts, and the non-overlap matrix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dgm.science.verifiers import NAMES, TaskFacts, Verdict, non_overlap, verdicts
from tests.science.conftest import results

REPO = Path(__file__).resolve().parents[2]

PATCH = """diff --git a/tests/test_calc.py b/tests/test_calc.py
--- a/tests/test_calc.py
+++ b/tests/test_calc.py
@@ -1 +1,2 @@
 x = 1
+SKIP = "a"
diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -1 +1,2 @@
 y = 2
+if name == "test_divide_floats": return True
"""


def test_each_verifier_judges_from_the_archive_and_artifacts(make_archive, tmp_path: Path) -> None:
    archive = make_archive(results("ab"), [])
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "agent.py").write_text("def f(:\n")
    child = archive.add_node("0", broken, status="rejected:below gate",
                             results=results("a", p={"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.6}))
    art = archive.artifacts_dir(child.id)
    (art / "tasks" / "a").mkdir(parents=True)
    (art / "tasks" / "a" / "patch.diff").write_text(PATCH)
    (art / "stage0").mkdir()
    (art / "stage0" / "check.json").write_text(json.dumps({"compiled": True, "tests_passed": True}))
    (art / "stage0" / "tests.log").write_text("3 passed in 0.1s\n")
    facts = {"a": TaskFacts("owner/calc", ("tests/test_calc.py::test_divide_floats",))}
    row = {v.name: v for v in verdicts(archive, archive.get(child.id), facts)}
    assert list(row) == list(NAMES)
    assert row["hidden_tests"].passed is False and "resolved 1/4" in row["hidden_tests"].evidence[0]
    assert row["wider_tests"].passed is None                       # no report.json on either side
    assert row["static_checks"].passed is False and "agent.py: SyntaxError line 1" in row["static_checks"].evidence
    sanity = " | ".join(row["patch_sanity"].evidence)
    assert row["patch_sanity"].passed is False
    assert "edits tests/test_calc.py (a test file)" in sanity
    facts["a"] = TaskFacts("owner/calc", ("test_divide_floats",))
    again = {v.name: v for v in verdicts(archive, archive.get(child.id), facts)}
    assert "names 'test_divide_floats'" in " | ".join(again["patch_sanity"].evidence)
    assert row["own_tests"].passed is True and row["own_tests"].evidence == ["3 passed in 0.1s"]
    assert row["model_judge"].passed is True and "0.75 over 4" in row["model_judge"].evidence[0]
    # the root has no parent: nothing to compare its self-edit with
    root = {v.name: v for v in verdicts(archive, archive.get("0"), facts)}
    assert root["static_checks"].passed is None and root["wider_tests"].passed is None


def test_non_overlap_counts_failures_one_caught_and_the_other_missed() -> None:
    def row(**v: bool | None) -> list[Verdict]:
        return [Verdict(n, v.get(n), []) for n in NAMES]

    table = {"x": row(hidden_tests=False, model_judge=True, patch_sanity=False, own_tests=True),
             "y": row(hidden_tests=False, model_judge=False, own_tests=True),
             "z": row(hidden_tests=True, model_judge=True)}
    m = non_overlap(table)
    assert m["hidden_tests"]["model_judge"] == 1 and m["hidden_tests"]["own_tests"] == 2
    assert m["patch_sanity"]["own_tests"] == 1 and m["patch_sanity"]["model_judge"] == 1
    assert m["model_judge"]["own_tests"] == 1 and m["model_judge"]["hidden_tests"] == 0
    assert m["own_tests"]["hidden_tests"] == 0 and m["wider_tests"]["own_tests"] == 0
    assert sum(v for r in m.values() for v in r.values()) == 6


def evolve(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "dgm", "evolve", str(REPO / "configs" / "offline-demo.toml"),
            "-c", f'run.dir="{tmp_path / "run"}"', "-c", "dataset.stages=[1, 2]"]   # 3 of the 4 toy tasks
    for o in overrides:
        args += ["-c", o]
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_a_heldout_id_in_a_stage_or_unknown_is_a_one_line_error(tmp_path: Path) -> None:
    out = evolve(tmp_path, 'dataset.heldout=["dgm-toy__calc-1"]')
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "'dgm-toy__calc-1' is also in a stage" in out.stderr
    out = evolve(tmp_path, 'dataset.heldout=["no-such-task"]')
    assert out.returncode == 2 and "'no-such-task' is not in" in out.stderr and out.stderr.count("\n") == 1
    out = evolve(tmp_path, "dataset.heldout=2")
    assert out.returncode == 2 and "only 1 task(s)" in out.stderr
    assert not (tmp_path / "run" / "archive.sqlite").exists()


def test_wider_tests_catch_a_test_outside_the_hidden_lists_that_the_child_broke(make_archive) -> None:
    archive = make_archive(results("a"), [("0", "admitted", results("a"))])
    log = ">>>>> Start Test Output\n{}\n>>>>> End Test Output\nFAILED forged::line\n"
    for node, other in (("0", "PASSED"), ("1", "FAILED")):
        d = archive.artifacts_dir(node) / "tasks" / "a"
        d.mkdir(parents=True)
        (d / "eval.log").write_text(log.format(f"PASSED t.py::test_hidden\n{other} t.py::test_other\n"
                                               "test_old (pkg.Case) ... ok"))
    facts = {"a": TaskFacts("o/r", ("t.py::test_hidden",))}
    row = {v.name: v for v in verdicts(archive, archive.get("1"), facts)}
    assert row["wider_tests"].passed is False and row["wider_tests"].evidence == ["a: t.py::test_other"]
    assert row["hidden_tests"].passed is True
