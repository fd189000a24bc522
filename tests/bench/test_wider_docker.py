"""The tests around a change, run for real: toy task images, grading sandboxes, the task's parser."""

from __future__ import annotations

import pytest

from dgm.archive import Archive
from dgm.bench.grading import grade
from dgm.bench.wider import WiderRecord, wider_run
from dgm.evolve.records import write_json
from dgm.science.verifiers import wider_tests

pytestmark = pytest.mark.docker

CALC = "dgm-toy__calc-1"
# Fixes divide (the hidden tests of tests/test_arith.py) and, in passing, breaks mean (tests/test_stats.py,
# which calc-1's test patch does not touch).
BREAKING = """\
diff --git a/calc/arith.py b/calc/arith.py
index 6a5a398..ebe8926 100644
--- a/calc/arith.py
+++ b/calc/arith.py
@@ -17,4 +17,4 @@ def divide(a, b):
     \"\"\"Divide a by b; dividing by zero raises ZeroDivisionError.\"\"\"
     if b == 0:
         raise ZeroDivisionError("division by zero")
-    return a // b
+    return a / b
diff --git a/calc/stats.py b/calc/stats.py
index 01db26f..cc27b35 100644
--- a/calc/stats.py
+++ b/calc/stats.py
@@ -6,7 +6,7 @@ def mean(values):
     values = list(values)
     if not values:
         raise ValueError("mean of an empty sequence")
-    return sum(values) / len(values)
+    return sum(values) // len(values)
 
 
 def median(values):
"""
README_ONLY = """\
diff --git a/README.md b/README.md
index ce1df2c..1f18b30 100644
--- a/README.md
+++ b/README.md
@@ -1,3 +1,3 @@
 # calc
 
-A tiny arithmetic and statistics package: a toy repository for dgm's task tests.
+A tiny arithmetic and statistics package.
"""


def verdict_on(record: WiderRecord, tmp_path):
    """The wider_tests verifier on a node whose one graded task run left RECORD, as the evolve loop keeps it."""
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "agent.py").write_text("print('hi')\n")
    with Archive.create(tmp_path / "run", seed) as archive:
        archive.update_node("0", results={CALC: {"resolved": True, "empty_patch": False, "stage": 1}})
        write_json(archive.artifacts_dir("0") / "tasks" / CALC / "wider.json", record.to_dict())
        return wider_tests(archive.get("0"), archive.artifacts_dir("0"))


def test_a_patch_that_breaks_a_test_around_it_is_caught_and_the_verdict_is_untouched(toy_store, toy_instances,
                                                                                       run_id, tmp_path):
    inst, env = toy_instances[CALC], toy_store.environment(CALC)
    hidden = grade(inst, env, BREAKING, run_id=run_id)
    assert hidden.resolved  # the hidden tests cannot see the break: that is the point of the wider run
    record = wider_run(inst, env, BREAKING, run_id=run_id)
    print(f"\nwider run (breaking patch): {record.seconds:.2f} s, grading: {hidden.seconds:.2f} s")
    assert record.files == ["tests/test_stats.py"] and "tests/test_arith.py" not in record.command
    assert record.breaks == ["tests/test_stats.py::test_mean"]
    assert record.tests["tests/test_stats.py::test_mean"] == ["PASSED", "FAILED"]
    assert record.tests["tests/test_stats.py::test_median_odd"] == ["PASSED", "PASSED"]
    assert not record.before_errors and not record.after_errors and record.skipped is None
    verdict = verdict_on(record, tmp_path)
    assert verdict.passed is False
    assert verdict.evidence == [f"{CALC}: tests/test_stats.py::test_mean (passed before, failed after)"]


def test_an_honest_patch_breaks_nothing_around_it(toy_store, toy_instances, run_id, tmp_path):
    inst, env = toy_instances[CALC], toy_store.environment(CALC)
    record = wider_run(inst, env, inst.patch, run_id=run_id)
    print(f"\nwider run (gold patch): {record.seconds:.2f} s")
    assert record.files == ["tests/test_stats.py"]  # the package's tests: test_arith.py is the hidden one
    assert record.breaks == [] and len(record.tests) == 4
    assert all(statuses == ["PASSED", "PASSED"] for statuses in record.tests.values())
    assert verdict_on(record, tmp_path).passed is True
    # the before state runs no child's code: a second task run on the same tests reuses its statuses
    again = wider_run(inst, env, inst.patch, run_id=run_id)
    assert again.before_cached and again.tests == record.tests and again.breaks == []


def test_a_patch_that_touches_no_source_file_runs_nothing(toy_store, toy_instances, run_id, tmp_path):
    inst, env = toy_instances[CALC], toy_store.environment(CALC)
    record = wider_run(inst, env, README_ONLY, run_id=run_id)
    assert record.skipped == "the patch changes no Python source file"
    assert record.files == [] and record.tests == {}
    assert verdict_on(record, tmp_path).passed is None
