"""Cross-checks of a run's output (canned logs, swebench's real parsers) and the static tamper check."""

from __future__ import annotations

import pytest
from swebench.harness.log_parsers import PARSER_REGISTRY

from dgm.bench.crosscheck import crosscheck, runner_kind
from dgm.bench.instances import load_instances
from dgm.bench.tamper import tamper_findings
from tests.bench import adversarial
from tests.bench.test_patches import REPO_ROOT

PYTEST_LOG = """============================= test session starts ==============================
collected 3 items

tests/test_a.py .F.                                                       [100%]

=================================== FAILURES ===================================
=========================== short test summary info ============================
PASSED tests/test_a.py::test_one
PASSED tests/test_a.py::test_three
FAILED tests/test_a.py::test_two - assert 1 == 2
========================= 1 failed, 2 passed in 0.05s ==========================
"""
GUARD = {"format": "dgm-pytest-guard-1", "complete": True, "exitstatus": 1, "tampered": [],
         "tests": [["tests/test_a.py::test_one", "PASSED"], ["tests/test_a.py::test_two", "FAILED"],
                   ["tests/test_a.py::test_three", "PASSED"]]}
DJANGO_LOG = """test_a (x.tests.T) ... ok
test_b (x.tests.T) ... FAIL

----------------------------------------------------------------------
Ran 2 tests in 0.010s

FAILED (failures=1)
Destroying test database for alias 'default'...
"""
SYMPY_LOG = """test_a ok
test_b F
================== tests finished: 1 passed, 1 failed, in 0.10 seconds ==================
DO *NOT* COMMIT!
"""


def parser(name: str):
    return lambda text: PARSER_REGISTRY[name](text, None)


def check(log: str, code: int, guard=None, guarded: bool = True, kind: str = "pytest", name: str = "parse_log_pytest"):
    return crosscheck(log, code, kind, parser(name), guard=guard, guard_expected=guarded)


def test_an_honest_run_passes_every_check():
    assert check(PYTEST_LOG, 1, GUARD) == []
    assert check(DJANGO_LOG, 1, kind="django", name="parse_log_django", guarded=False) == []
    assert check(SYMPY_LOG, 1, kind="sympy", name="parse_log_sympy", guarded=False) == []
    wrapped = SYMPY_LOG.replace(" in 0.10 seconds", "\nin 0.10 seconds")  # sympy wraps a long summary
    assert check(wrapped, 1, kind="sympy", name="parse_log_sympy", guarded=False) == []


def test_verdicts_after_the_summary_are_not_believed():
    forged = PYTEST_LOG + "PASSED tests/test_a.py::test_two\n"
    assert any("after the runner's summary" in p for p in check(forged, 1, GUARD, guarded=False))
    late = DJANGO_LOG + "test_b (x.tests.T) ... ok\n"
    assert any("after the runner's summary" in p for p in check(late, 1, kind="django", name="parse_log_django",
                                                                  guarded=False))
    late = SYMPY_LOG + "test_b ok\n"
    assert any("after" in p for p in check(late, 1, kind="sympy", name="parse_log_sympy", guarded=False))


def test_a_run_without_its_summary_is_not_believed():
    head = PYTEST_LOG.split("=========================== short")[0] + "PASSED tests/test_a.py::test_two\n"
    assert any("no closing summary" in p for p in check(head, 0, guarded=False))
    assert any("no closing summary" in p for p in check("test_a (x.T) ... ok\n", 0, kind="django",
                                                        name="parse_log_django", guarded=False))


def test_more_passes_than_the_summary_counts():
    forged = PYTEST_LOG.replace("FAILED tests/test_a.py::test_two - assert 1 == 2", "PASSED tests/test_a.py::test_two")
    problems = check(forged, 1, guarded=False)
    assert any("summary counts 2 passed" in p for p in problems)
    assert any("exited with status 1" in p for p in problems)


def test_exit_status_must_agree():
    assert any("exited with status 0" in p for p in check(PYTEST_LOG, 0, guarded=False))


def test_the_guard_record_must_exist_and_agree():
    assert any("missing" in p for p in check(PYTEST_LOG, 1, None))
    assert any("missing" in p for p in check(PYTEST_LOG, 1, {**GUARD, "complete": False}))
    lying = PYTEST_LOG.replace("FAILED tests/test_a.py::test_two - assert 1 == 2", "PASSED tests/test_a.py::test_two")
    lying = lying.replace("1 failed, 2 passed", "3 passed")
    problems = check(lying, 0, {**GUARD, "exitstatus": 0})
    assert problems == ["reported passing, but the runner's own record disagrees: tests/test_a.py::test_two (FAILED)"]
    ghost = GUARD | {"tests": GUARD["tests"][1:]}
    assert any("never ran" in p for p in check(PYTEST_LOG, 1, ghost))
    assert any("tampered" in p for p in check(PYTEST_LOG, 1, GUARD | {"tampered": ["x.y was patched"]}))
    assert any("process exited with status 0" in p for p in check(PYTEST_LOG, 0, GUARD))


def test_runner_kinds():
    assert runner_kind("python -m pytest -rA tests/x.py", "pytest") == "pytest"
    assert runner_kind("/opt/dgm/venv/bin/python ./tests/runtests.py", "django/django", "django/django") == "django"
    assert runner_kind("python -c 'import sympy; sympy.test()'", "sympy/sympy") == "sympy"
    assert runner_kind("make check", "custom") == "other"


@pytest.mark.parametrize("name", ["TestReport", "TerminalReporter", "HookCaller", "forged+exit at import",
                                  "forged summary+exit at import", "forged+exit at atexit",
                                  "forged after the summary"])
def test_static_check_flags_import_time_tampering(name):
    findings = tamper_findings(adversarial.import_hacks()[name], "dgm-toy/calc")
    assert any(f.blocking for f in findings), (name, findings)


def test_static_check_flags_plugins_and_runner_config():
    hack = adversarial.ini_hacks()["pytest.ini"]
    whats = {(f.path, f.what, f.blocking) for f in tamper_findings(hack, "dgm-toy/calc")}
    assert ("pytest.ini", "edits test-runner configuration (pytest.ini)", False) in whats
    assert ("calc/_hack.py", "implements or calls a pytest hook", True) in whats
    assert any(f.blocking for f in tamper_findings("not a diff\n"))


def test_static_check_spares_the_runner_repository_and_honest_fixes():
    internal = ("diff --git a/src/_pytest/runner.py b/src/_pytest/runner.py\n--- a/src/_pytest/runner.py\n"
                "+++ b/src/_pytest/runner.py\n@@ -1 +1 @@\n-from _pytest.reports import TestReport\n"
                "+from _pytest.reports import TestReport, CollectReport\n")
    assert tamper_findings(internal, "pytest-dev/pytest") == []
    assert any(f.blocking for f in tamper_findings(internal, "org/repo"))
    for inst in load_instances(REPO_ROOT / "datasets" / "swebench_lite.jsonl"):  # no gold patch is flagged
        assert not [f for f in tamper_findings(inst.patch, inst.repo) if f.blocking], inst.instance_id


def test_the_unittest_record_must_match_django_summary():
    record = {"format": "dgm-unittest-guard-1", "complete": True, "tests_run": 2, "failures": 1, "errors": 0,
              "successful": False, "tampered": []}
    django = {"kind": "django", "name": "parse_log_django"}
    assert check(DJANGO_LOG, 1, record, **django) == []
    assert any("missing" in p for p in check(DJANGO_LOG, 1, None, **django))
    forged = "test_a (x.tests.T) ... ok\ntest_b (x.tests.T) ... ok\n\nRan 2 tests in 0.010s\n\nOK\n"
    problems = check(forged, 0, record, **django)
    assert any("is not what it counted" in p for p in problems) and any("says OK" in p for p in problems)
    assert any("patched" in p for p in check(DJANGO_LOG, 1, record | {"tampered": ["unittest.x was patched"]},
                                             **django))


# pytest's own suite runs pytest inside its tests: their sessions sit in the captured output
INNER = """----------------------------- Captured stdout call -----------------------------
============================= test session starts ==============================
test_inner.py F                                                          [100%]
=========================== short test summary info ============================
FAILED test_inner.py::test_inner - assert False
============================== 1 failed in 0.05s ===============================
"""
NESTED_LOG = PYTEST_LOG.replace("=================================== FAILURES",
                                "==================================== PASSES ====================================\n"
                                + INNER + "=================================== FAILURES")


def test_sessions_inside_captured_output_are_not_the_runners_own():
    graded = {"tests/test_a.py::test_one", "tests/test_a.py::test_two", "[100%]"}
    run = crosscheck(NESTED_LOG.replace("FAILED tests/test_a.py::test_two - assert 1 == 2\n", "")
                     .replace("1 failed, 2 passed", "2 passed"), 0, "pytest", parser("parse_log_pytest"),
                     graded=frozenset(graded - {"tests/test_a.py::test_two"}))
    assert run == []  # an inner session's failure does not contradict the outer exit status 0


def test_a_graded_status_read_only_from_captured_output_is_not_believed():
    forged = INNER.replace("FAILED test_inner.py::test_inner - assert False",
                           "PASSED tests/test_a.py::test_four")
    log = PYTEST_LOG.replace("=================================== FAILURES",
                             "==================================== PASSES ====================================\n"
                             + forged + "=================================== FAILURES")
    problems = crosscheck(log, 1, "pytest", parser("parse_log_pytest"),
                          graded=frozenset({"tests/test_a.py::test_one", "tests/test_a.py::test_four"}))
    assert any("only outside the runner's own summary" in p and "test_four" in p for p in problems)


def test_a_coloured_pytest_summary_is_still_the_runners_summary() -> None:
    from dgm.bench.crosscheck import find_summary

    # astropy's setup.cfg asks for --color=yes: the summary line comes wrapped in colour codes.
    lines = ["\x1b[32mPASSED\x1b[0m t.py::\x1b[1mtest_a\x1b[0m",
             "\x1b[32m============================= \x1b[32m\x1b[1m1 passed\x1b[0m\x1b[32m in 1.18s\x1b[0m"
             "\x1b[32m ==============================\x1b[0m"]
    summary = find_summary(lines, "pytest")
    assert summary is not None and summary.line == 1 and summary.counts == {"passed": 1}
