"""Judging framed logs with swebench (no Docker): parser choice and the harness's rules."""

from __future__ import annotations

import pytest

from dgm.bench.grading import judge, parser_key
from dgm.bench.instances import TaskInstance
from dgm.bench.store import TaskEnvironment
from dgm.bench.testrun import END, EXIT_CODE, START
from dgm.errors import BenchError

INST = TaskInstance("o__r-1", "o/r", "1.0", "abc", "bug", "diff", "diff",
                    ["t.py::test_fix"], ["t.py::test_old"])
ENV = TaskEnvironment("o__r-1", "img:1", test_command="pytest -rA t.py", log_parser="pytest", status="validated")


def framed(lines: list[str], code: int) -> str:
    return "\n".join([">>>>> Applied Patch", START, *lines, END, f"{EXIT_CODE}: {code}"]) + "\n"


def verdict(log: str) -> dict:
    return judge(INST, ENV, "diff --git a/x b/x\n", log)["o__r-1"]


def test_parser_names_and_repos_map_to_swebench_parsers():
    assert parser_key("pytest") == "parse_log_pytest"
    assert parser_key("parse_log_django") == "parse_log_django"
    assert parser_key("pallets/flask") == "parse_log_flask"
    assert parser_key("sympy/sympy") == "parse_log_sympy"
    assert parser_key("", repo="django/django") == "parse_log_django"
    with pytest.raises(BenchError, match="no swebench log parser named 'nosuch'"):
        parser_key("nosuch")


def test_all_passing_resolves_in_the_official_report_shape():
    row = verdict(framed(["PASSED t.py::test_fix", "PASSED t.py::test_old"], 0))
    assert row["resolved"] and row["patch_successfully_applied"] and row["patch_exists"]
    assert row["tests_status"]["FAIL_TO_PASS"] == {"success": ["t.py::test_fix"], "failure": []}
    assert set(row) >= {"patch_is_None", "patch_exists", "patch_successfully_applied", "resolved", "tests_status"}


def test_a_skipped_pass_to_pass_test_counts_as_failed():
    row = verdict(framed(["PASSED t.py::test_fix", "SKIPPED [1] t.py:3: no network"], 0))
    assert not row["resolved"] and row["tests_status"]["PASS_TO_PASS"]["failure"] == ["t.py::test_old"]


def test_a_failing_exit_code_with_only_passes_in_the_log_is_not_believed():
    row = verdict(framed(["PASSED t.py::test_fix", "PASSED t.py::test_old"], 1))
    assert not row["resolved"] and not row["patch_successfully_applied"]


def test_an_apply_failure_log_is_reported_as_not_applied():
    row = verdict(">>>>> Patch Apply Failed\nerror: patch failed: x.py:1\n")
    assert row["patch_exists"] and not row["patch_successfully_applied"] and not row["resolved"]
    assert "tests_status" not in row
