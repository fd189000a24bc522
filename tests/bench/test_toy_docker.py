"""The toy tasks through the real path: image build, validation and grading in Docker sandboxes."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace

import pytest

from dgm.bench.grading import grade

pytestmark = pytest.mark.docker

CALC = "dgm-toy__calc-1"


def test_every_toy_task_builds_and_validates(toy_store, toy_instances):
    envs = {e.instance_id: e for e in toy_store.environments()}
    assert set(envs) == set(toy_instances)
    for iid, env in envs.items():
        assert env.status == "validated", (iid, env.status, env.detail)
        logs = toy_store.log_dir(iid)
        assert "Start Test Output" in (logs / "before.log").read_text()
        assert "FAILED" in (logs / "before.log").read_text() and "FAILED" not in (logs / "gold.log").read_text()


def test_image_follows_the_task_image_convention(toy_store, toy_instances):
    env = toy_store.environment(CALC)
    script = ("cd /opt/dgm/seed/testbed && git rev-parse HEAD && stat -c %u . "
              "&& git status --porcelain | wc -l && command -v python3 && python3 -m pytest --version")
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "1000:1000", env.image,
                          "bash", "-lc", script], capture_output=True, text=True, check=True).stdout.split()
    head, owner, dirty, python = out[0], out[1], out[2], out[3]
    assert head == toy_instances[CALC].base_commit  # the row's base commit is the image's
    assert (owner, dirty, python) == ("1000", "0", "/opt/dgm/venv/bin/python3")


def test_gold_resolves_and_empty_does_not(toy_store, toy_instances, run_id):
    inst, env = toy_instances[CALC], toy_store.environment(CALC)
    gold = grade(inst, env, inst.patch, run_id=run_id)
    assert gold.resolved and gold.patch_applied and not gold.empty_patch and gold.error is None
    assert sorted(gold.tests_status["FAIL_TO_PASS"]["success"]) == sorted(inst.FAIL_TO_PASS)
    assert gold.tests_status["PASS_TO_PASS"]["failure"] == []
    empty = grade(inst, env, "", run_id=run_id)
    assert not empty.resolved and empty.empty_patch and not empty.patch_applied
    assert empty.report == {CALC: {"patch_is_None": False, "patch_exists": False,
                                   "patch_successfully_applied": False, "resolved": False}}


def test_a_patch_that_does_not_apply_is_a_recorded_failure(toy_store, toy_instances, run_id):
    inst, env = toy_instances[CALC], toy_store.environment(CALC)
    bad = inst.patch.replace("-    return a // b", "-    return a %% b")
    result = grade(inst, env, bad, run_id=run_id)
    assert not result.resolved and not result.patch_applied and not result.empty_patch
    assert result.error == "the model patch does not apply"
    assert ">>>>> Patch Apply Failed" in result.log
    row = result.report[CALC]
    assert row["patch_exists"] and not row["patch_successfully_applied"] and not row["resolved"]


def test_editing_the_tests_does_not_change_the_verdict(toy_store, toy_instances, run_id):
    inst, env = toy_instances[CALC], toy_store.environment(CALC)
    # A conftest.py that turns every test into a pass (it would, if it reached the tests).
    conftest = (
        "diff --git a/tests/conftest.py b/tests/conftest.py\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/tests/conftest.py\n@@ -0,0 +1,5 @@\n+import pytest\n+\n+@pytest.hookimpl(tryfirst=True)\n"
        "+def pytest_runtest_call(item):\n+    item.runtest = lambda: None\n"
    )
    # An edit to the very file the hidden test patch changes (it would make that patch conflict).
    weaken = (
        "diff --git a/tests/test_arith.py b/tests/test_arith.py\n--- a/tests/test_arith.py\n"
        "+++ b/tests/test_arith.py\n@@ -19,6 +19,6 @@ def test_divide_exact():\n     assert divide(8, 2) == 4\n"
        " \n \n-def test_divide_by_zero():\n+def test_divide_by_zero():  # weakened\n"
        "     with pytest.raises(ZeroDivisionError):\n         divide(1, 0)\n"
    )
    # Test files only: the official harness runs such a patch (unresolved), and so does dgm, with
    # the edits dropped (the hook never reaches the tests).
    cheat = grade(inst, env, conftest + weaken, run_id=run_id)
    assert not cheat.resolved and not cheat.empty_patch and cheat.patch_applied and cheat.error is None
    assert cheat.dropped == [["tests/conftest.py", "a test file"],
                             ["tests/test_arith.py", "a file the hidden tests change"]]
    assert sorted(cheat.tests_status["FAIL_TO_PASS"]["failure"]) == sorted(inst.FAIL_TO_PASS)
    assert cheat.report[CALC]["patch_successfully_applied"] and not cheat.report[CALC]["resolved"]
    with_fix = grade(inst, env, conftest + inst.patch + weaken, run_id=run_id)
    assert with_fix.resolved and with_fix.patch_applied
    assert "conftest" not in with_fix.log and "weakened" not in with_fix.log


def test_validation_names_what_is_wrong_with_a_row(toy_store, toy_instances, run_id, tmp_path):
    from dgm.bench.validation import validate

    inst, env = toy_instances[CALC], toy_store.environment(CALC)
    mislabeled = replace(inst, FAIL_TO_PASS=inst.FAIL_TO_PASS + ["tests/test_arith.py::test_add"])
    verdict = validate(mislabeled, env, run_id=run_id)
    assert verdict.status == "failed:f2p-passes-before" and "tests/test_arith.py::test_add" in verdict.detail
    wrong_fix = replace(inst, patch=inst.patch.replace("+    return a / b", "+    return round(a / b)"))
    verdict = validate(wrong_fix, env, run_id=run_id, log_dir=tmp_path)
    assert verdict.status == "failed:gold-not-resolved"
    assert "tests/test_arith.py::test_divide_fraction" in verdict.detail
    assert "Start Test Output" in (tmp_path / "gold.log").read_text()


def test_grading_a_predictions_file_matches_swebench_run_report(toy_store, toy_instances, tmp_path,
                                                                run_id, monkeypatch, capsys):
    from swebench.harness.reporting import make_run_report

    from dgm.cli import main

    ids = sorted(toy_instances)
    tests_only = toy_instances[ids[1]].test_patch  # edits test files only: runs, unresolved
    preds = {ids[0]: toy_instances[ids[0]].patch,  # resolves
             ids[1]: "",  # empty
             ids[2]: "garbage that is not a diff\n",  # does not apply: an error, as in the harness
             ids[3]: toy_instances[ids[3]].patch.replace("head.lower()", "head.upper()")}  # wrong fix
    pred_file = tmp_path / "preds.jsonl"
    pred_file.write_text("".join(json.dumps({"instance_id": i, "model_name_or_path": "org/model",
                                             "model_patch": p}) + "\n" for i, p in preds.items()))
    out = tmp_path / "logs" / "run_evaluation"
    code = main(["bench", "grade", "--predictions", str(pred_file), "--store", str(toy_store.path),
                 "--out", str(out), "--run-id", run_id])
    assert code == 0
    assert "resolved 1/4" in capsys.readouterr().out
    ours = json.loads((out / f"org__model.{run_id}.json").read_text())
    report = json.loads((out / run_id / "org__model" / ids[0] / "report.json").read_text())
    assert report[ids[0]]["resolved"] and set(report[ids[0]]["tests_status"]) >= {"FAIL_TO_PASS", "PASS_TO_PASS"}
    # swebench's own run report, reading our per-instance files from the harness layout
    monkeypatch.chdir(tmp_path)
    official = json.loads(make_run_report(
        {i: {"instance_id": i, "model_name_or_path": "org/model", "model_patch": p} for i, p in preds.items()},
        [toy_instances[i].to_row() for i in ids], run_id, report_dir=str(tmp_path / "official")).read_text())
    for key in ("resolved_ids", "unresolved_ids", "empty_patch_ids", "error_ids", "completed_ids"):
        assert ours[key] == official[key], key
    assert official["resolved_ids"] == [ids[0]] and official["empty_patch_ids"] == [ids[1]]
    # A patch of test files only: the harness runs it and reports it unresolved; so does dgm.
    only = {"instance_id": ids[1], "model_name_or_path": "org/tests", "model_patch": tests_only}
    pred_file.write_text(json.dumps(only) + "\n")
    assert main(["bench", "grade", "--predictions", str(pred_file), "--store", str(toy_store.path),
                 "--out", str(out), "--run-id", run_id]) == 0
    ours = json.loads((out / f"org__tests.{run_id}.json").read_text())
    official = json.loads(make_run_report({ids[1]: only}, [toy_instances[ids[1]].to_row()], run_id,
                                          report_dir=str(tmp_path / "official")).read_text())
    for key in ("resolved_ids", "unresolved_ids", "empty_patch_ids", "error_ids", "completed_ids"):
        assert ours[key] == official[key], key
    assert official["unresolved_ids"] == [ids[1]]
