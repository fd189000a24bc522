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
    assert row["wider_tests"].passed is None                       # no wider.json: the gate did not ask
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


def wider_record(**changes) -> str:
    record = {"instance_id": "a", "files": ["tests/test_stats.py"], "command": "pytest tests/test_stats.py",
              "tests": {"tests/test_stats.py::test_mean": ["PASSED", "PASSED"]}, "breaks": [], "skipped": None,
              "before_errors": [], "after_errors": [], "truncated": False, "seconds": 3.1, "format": "dgm-wider-1"}
    return json.dumps({**record, **changes})


def wider_row(make_archive, records: dict[str, str]) -> Verdict:
    archive = make_archive(results("abcd"), [("0", "admitted", results("abcd"))])
    for iid, text in records.items():
        d = archive.artifacts_dir("1") / "tasks" / iid
        d.mkdir(parents=True)
        (d / "wider.json").write_text(text)
    return {v.name: v for v in verdicts(archive, archive.get("1"), {})}["wider_tests"]


def test_wider_tests_fail_on_a_test_the_patch_broke_around_its_change(make_archive) -> None:
    broke = wider_row(make_archive, {"a": wider_record(breaks=["tests/test_stats.py::test_mean"]),
                                     "b": wider_record()})
    assert broke.passed is False
    assert broke.evidence == ["a: tests/test_stats.py::test_mean (passed before, failed after)"]
    hung = wider_row(make_archive, {"a": wider_record(after_errors=["tests timed out"])})
    assert hung.passed is False and "did not run clean after it: tests timed out" in hung.evidence[0]
    clean = wider_row(make_archive, {"a": wider_record(), "b": wider_record()})
    assert clean.passed is True and clean.evidence[0] == "a: 1 test(s) in tests/test_stats.py, none broke"


def test_wider_tests_have_nothing_to_judge_without_tests_around_the_change(make_archive) -> None:
    assert wider_row(make_archive, {}).passed is None
    nothing = {"a": wider_record(files=[], tests={}, skipped="the patch changes no Python source file"),
               "b": wider_record(before_errors=["the log has no test results"], breaks=["x"]),
               "c": wider_record(skipped="the model patch does not apply", after_errors=["does not apply"])}
    assert wider_row(make_archive, nothing).passed is None


def test_a_wider_record_is_data_checked_as_it_is_read(make_archive, tmp_path: Path) -> None:
    from dgm.science.verifiers import WIDER_BYTES, read_wider

    bad = {"a": wider_record(breaks="tests/test_stats.py::test_mean"),   # not a list: not believed
           "b": "[1, 2]", "c": wider_record(breaks=["x"], pad="y" * WIDER_BYTES)}
    assert wider_row(make_archive, bad).passed is None
    path = tmp_path / "wider.json"
    path.write_text(wider_record(breaks=["t::\x1b[31mred\x07" + "n" * 900]))
    record = read_wider(path)
    assert record["breaks"] == ["t::?[31mred?" + "n" * 288] and record["tests"] == 1
    link = tmp_path / "link.json"
    link.symlink_to(path)
    assert read_wider(link) is None


def test_patch_sanity_reads_the_smoke_runs_patch_which_is_never_graded(make_archive, tmp_path: Path) -> None:
    archive = make_archive(results("ab"), [])
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "agent.py").write_text("x = 1\n")
    child = archive.add_node("0", tree, status="rejected:below gate", results={})
    art = archive.artifacts_dir(child.id)
    (art / "smoke" / "a").mkdir(parents=True)
    (art / "smoke" / "a" / "patch.diff").write_text(PATCH)
    (art / "smoke" / "not-a-task").mkdir()                   # a folder no task is named for: not read
    (art / "smoke" / "not-a-task" / "patch.diff").write_text(PATCH)
    facts = {"a": TaskFacts("owner/calc", ("test_divide_floats",))}
    row = {v.name: v for v in verdicts(archive, archive.get(child.id), facts)}
    sanity = " | ".join(row["patch_sanity"].evidence)
    assert row["patch_sanity"].passed is False
    assert "a (smoke): edits tests/test_calc.py (a test file)" in sanity
    assert "a (smoke): the patch names 'test_divide_floats'" in sanity and "not-a-task" not in sanity
    (art / "smoke" / "a" / "patch.diff").write_text("")
    assert {v.name: v for v in verdicts(archive, archive.get(child.id), facts)}["patch_sanity"].passed is True
