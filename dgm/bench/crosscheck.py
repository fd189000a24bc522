"""Cross-checks of a test run that the tests' own output cannot forge alone.

swebench's parser reads status lines, which code under test can print too. A run is only
believed when the runner's summary, its exit status, nothing after the summary, and (for
pytest) the grader's own in-process record all agree with what the parser read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

PASS = ("PASSED", "XFAIL")
FAIL = ("FAILED", "ERROR")
SHOW = 5

_PYTEST_SUMMARY = re.compile(r"^=+ (?P<body>.*?\b(?:passed|failed|errors?|skipped|xfailed|xpassed|deselected|"
                             r"warnings?|no tests ran)\b.*?) in [\d.]+ ?s(?:econds)?\b.*=+\s*$")
_PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?|rerun)")
_UNITTEST_SUMMARY = re.compile(r"^Ran \d+ tests? in [\d.]+s\s*$")
_UNITTEST_RESULT = re.compile(r"^(OK|FAILED)\b")
_SYMPY_SUMMARY = re.compile(r"^=+ tests finished: .* in [\d.]+ seconds =+\s*$")

Parser = Callable[[str], dict]


@dataclass
class Summary:
    """Where the runner's closing summary is (line index, end of its block) and its counts."""

    line: int
    end: int
    counts: dict[str, int]


def runner_kind(test_command: str, log_parser: str, repo: str = "") -> str:
    """"pytest", "django", "sympy", or "other" (no summary format known)."""
    key = f"{log_parser} {repo}".lower()
    if "django" in key:
        return "django"
    if "sympy" in key:
        return "sympy"
    if re.search(r"(^|[\s/])(py\.test|pytest)\b", test_command):
        return "pytest"
    return "other"


def find_summary(lines: list[str], kind: str) -> Summary | None:
    """The last summary block of the runner in LINES, or None."""
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if kind == "pytest":
            match = _PYTEST_SUMMARY.match(line)
            if match:
                counts: dict[str, int] = {}
                for n, word in _PYTEST_COUNT.findall(match["body"]):
                    word = {"error": "errors", "warning": "warnings"}.get(word, word)
                    counts[word] = counts.get(word, 0) + int(n)
                return Summary(i, i + 1, counts)
        elif kind == "django" and _UNITTEST_SUMMARY.match(line):
            end = i + 1
            while end < len(lines) and not lines[end].strip():
                end += 1
            if end < len(lines) and _UNITTEST_RESULT.match(lines[end]):
                return Summary(i, end + 1, {})
            return None
        elif kind == "sympy" and _SYMPY_SUMMARY.match(line):
            return Summary(i, i + 1, {})
    return None


def _names(tests: list[str]) -> str:
    return ", ".join(tests[:SHOW]) + (f" (+{len(tests) - SHOW} more)" if len(tests) > SHOW else "")


def crosscheck(output: str, exit_code: int | None, kind: str, parse: Parser,
               guard: dict | None = None, guard_expected: bool = False) -> list[str]:
    """Problems with a finished test run's OUTPUT (empty: the run can be believed)."""
    problems: list[str] = []
    statuses = parse(output)
    lines = output.split("\n")
    summary = find_summary(lines, kind) if kind != "other" else None
    if kind != "other":
        if summary is None:
            problems.append(f"the {kind} runner printed no closing summary (it did not finish, or exited early)")
        else:
            after = "\n".join(lines[summary.end:])
            late = parse(after)
            if late or (kind == "pytest" and any(_PYTEST_SUMMARY.match(x) for x in lines[summary.end:])):
                problems.append("test results were printed after the runner's summary: "
                                + _names(sorted(late) or ["a second summary"]))
            if kind == "pytest":
                passed = sum(1 for s in statuses.values() if s == "PASSED")
                if passed > summary.counts.get("passed", 0):
                    problems.append(f"{passed} tests are reported PASSED but the runner's summary counts "
                                    f"{summary.counts.get('passed', 0)} passed")
    passing = [t for t, s in statuses.items() if s in PASS]
    failing = [t for t, s in statuses.items() if s in FAIL]
    if exit_code is not None and exit_code >= 0:
        if exit_code != 0 and statuses and not failing:
            problems.append(f"every test is reported passing but the runner exited with status {exit_code}")
        if exit_code == 0 and failing:
            problems.append(f"tests are reported failing ({_names(failing)}) but the runner exited with status 0")
    if guard_expected:
        problems += _check_guard(guard, exit_code, passing, parse)
    return problems


def _check_guard(guard: dict | None, exit_code: int | None, passing: list[str], parse: Parser) -> list[str]:
    if not isinstance(guard, dict) or guard.get("format") != "dgm-pytest-guard-1" or not guard.get("complete"):
        return ["the grader's own record of the pytest run is missing (the run ended early, "
                "or the record was removed)"]
    problems = [f"the test runner was tampered with: {t}" for t in guard.get("tampered", [])[:SHOW]
                if isinstance(t, str)]
    status = guard.get("exitstatus")
    if isinstance(status, int) and exit_code is not None and exit_code >= 0 and status != exit_code:
        problems.append(f"pytest ended with status {status} but the process exited with status {exit_code}")
    rows = guard.get("tests") or []
    text = "\n".join(f"{row[1]} {row[0]}" for row in rows
                     if isinstance(row, list) and len(row) == 2 and all(isinstance(x, str) for x in row))
    own = parse(text + "\n") if text else {}
    forged = [t for t in passing if own.get(t) not in PASS]
    if forged:
        problems.append("reported passing, but the runner's own record disagrees: "
                        + _names([f"{t} ({own.get(t, 'never ran')})" for t in forged]))
    return problems
