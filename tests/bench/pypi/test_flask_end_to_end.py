"""One real Lite instance end to end: pallets__flask-4992 rebuilt from Flask 2.3.0 on PyPI."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm.bench.instances import load_instances

LITE = Path(__file__).resolve().parents[3] / "datasets" / "swebench_lite.jsonl"
INSTANCE = "pallets__flask-4992"

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def flask_task(tmp_path_factory):
    from dgm.bench.build import build_instance
    from dgm.bench.store import BenchStore

    inst = load_instances(LITE, ids=[INSTANCE])[0]
    store = BenchStore(tmp_path_factory.mktemp("bench"))
    env = build_instance(inst, store, run_id="test-pypi-flask")  # the image is cached by content
    from dgm.sandbox.driver import sweep

    sweep(run_id="test-pypi-flask")
    return inst, env


def test_recipe_comes_from_the_release_and_validates(flask_task) -> None:
    inst, env = flask_task
    assert env.status == "validated", env.detail
    assert env.notes["release"] == "2.3.0" and env.notes["suite"] == "bookworm"
    assert env.log_parser == "pallets/flask"
    assert "tests/test_config.py" in env.test_command


def test_before_state_fails_the_fix_test_and_passes_the_rest(flask_task, run_id: str) -> None:
    from dgm.bench.grading import status_map
    from dgm.bench.testrun import run_tests

    inst, env = flask_task
    run = run_tests(inst, env, "", run_id=run_id)
    statuses, found = status_map(inst, env, run.log)
    assert found
    assert [statuses.get(t) for t in inst.FAIL_TO_PASS] == ["FAILED"]
    assert inst.PASS_TO_PASS and all(statuses.get(t) == "PASSED" for t in inst.PASS_TO_PASS)


def test_gold_resolves_and_empty_or_unrelated_patches_do_not(flask_task, run_id: str) -> None:
    from dgm.bench.grading import grade

    inst, env = flask_task
    gold = grade(inst, env, inst.patch, run_id=run_id)
    assert gold.resolved and gold.patch_applied
    assert gold.report[INSTANCE]["resolved"] is True

    empty = grade(inst, env, "", run_id=run_id)
    assert not empty.resolved and empty.empty_patch

    unrelated = (
        "diff --git a/src/flask/config.py b/src/flask/config.py\n"
        "--- a/src/flask/config.py\n+++ b/src/flask/config.py\n"
        "@@ -1,3 +1,4 @@\n+# an edit that fixes nothing\n from __future__ import annotations\n \n import errno\n"
    )
    miss = grade(inst, env, unrelated, run_id=run_id)
    assert miss.patch_applied and not miss.resolved
    assert miss.tests_status["FAIL_TO_PASS"]["failure"] == inst.FAIL_TO_PASS
