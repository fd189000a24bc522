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
_PYTEST_SHORT = re.compile(r"^=+ short test summary info =+\s*$")
_PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?|rerun)")
_UNITTEST_SUMMARY = re.compile(r"^Ran \d+ tests? in [\d.]+s\s*$")
_UNITTEST_RESULT = re.compile(r"^(OK|FAILED)\b")
# sympy's reporter wraps a long summary: "=== tests finished: 9 passed, ...\nin 1.2 seconds ==="
_SYMPY_SUMMARY = re.compile(r"^=* ?tests finished: \d+ passed")
_SYMPY_END = re.compile(r"\bin [\d.]+ seconds\b")
# Colour codes: a project's own addopts may ask for them (astropy's `--color=yes`).
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

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
        line = _ANSI.sub("", lines[i])
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
            for end in range(i, min(i + 4, len(lines))):
                if _SYMPY_END.search(lines[end]):
                    return Summary(i, end + 1, {})
            return None
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _names(tests: list[str]) -> str:
    # test names come from output the code under test wrote: made inert and short before they travel
    shown = [_CONTROL.sub("?", t)[:200] for t in tests[:SHOW]]
    return ", ".join(shown) + (f" (+{len(tests) - SHOW} more)" if len(tests) > SHOW else "")


def own_section(lines: list[str], summary: Summary | None, kind: str) -> tuple[int, int] | None:
    """The lines of pytest's own short summary (-rA) just before its closing line, or None.

    Everything above it is the tests' captured output, which may hold other pytest sessions
    (pytest's own suite runs pytest inside its tests) or lines the code under test printed.
    """
    if kind != "pytest" or summary is None:
        return None
    for i in range(summary.line - 1, -1, -1):
        if _PYTEST_SHORT.match(lines[i]):
            return i, summary.line
        if _PYTEST_SUMMARY.match(lines[i]):
            return None
    return None


def crosscheck(output: str, exit_code: int | None, kind: str, parse: Parser,
               guard: dict | None = None, guard_expected: bool = False,
               graded: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Problems with a finished test run's OUTPUT (empty: the run can be believed).

    GRADED names the tests whose statuses decide the verdict: with pytest, each must have
    the status the runner gives it in its own summary section, not one read elsewhere.
    """
    problems: list[str] = []
    everywhere = parse(output)
    lines = output.split("\n")
    summary = find_summary(lines, kind) if kind != "other" else None
    section = own_section(lines, summary, kind)
    statuses = parse("\n".join(lines[section[0]:section[1]]) + "\n") if section else everywhere
    if section:
        # Only names that are pytest node ids: some datasets' lists hold fragments of captured
        # output ("[100%]") that no runner reports as its own.
        elsewhere = [t for t in sorted(graded)
                     if "::" in t and t in everywhere and everywhere[t] != statuses.get(t)]
        if elsewhere:
            problems.append("graded tests have a status only outside the runner's own summary: "
                            + _names(elsewhere))
    if kind != "other":
        if summary is None:
            problems.append(f"the {kind} runner printed no closing summary (it did not finish, or exited early)")
        else:
            after = "\n".join(lines[summary.end:])
            late = parse(after)
            if late or (kind == "pytest" and any(_PYTEST_SUMMARY.match(_ANSI.sub("", x)) for x in lines[summary.end:])):
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
        problems += _check_guard(guard, exit_code, passing, parse, lines, summary, failing)
    return problems


_UNITTEST_COUNTS = re.compile(r"(failures|errors)=(\d+)")


def _check_unittest(guard: dict, lines: list[str], summary: Summary | None, failing: list[str]) -> list[str]:
    """Django's runner: the record's counts must be the summary's, and its failures visible in the log."""
    problems: list[str] = []
    if summary is None:
        return problems
    ran = re.search(r"Ran (\d+)", lines[summary.line])
    result = lines[summary.end - 1]
    counts = {k: int(v) for k, v in _UNITTEST_COUNTS.findall(result)}
    record = (guard.get("tests_run"), guard.get("failures"), guard.get("errors"))
    printed = (int(ran.group(1)) if ran else None, counts.get("failures", 0), counts.get("errors", 0))
    if record != printed:
        problems.append(f"the runner's summary (ran, failures, errors = {printed}) is not what it counted {record}")
    if bool(guard.get("successful")) != result.startswith("OK"):
        problems.append("the runner's summary says " + result.split()[0] + " but its own result disagrees")
    if (guard.get("failures") or guard.get("errors")) and not failing:
        problems.append("the runner counted failures but the log reports none")
    return problems


def _check_guard(guard: dict | None, exit_code: int | None, passing: list[str], parse: Parser,
                 lines: list[str] | None = None, summary: Summary | None = None,
                 failing: list[str] | None = None) -> list[str]:
    known = ("dgm-pytest-guard-1", "dgm-unittest-guard-1")
    if not isinstance(guard, dict) or guard.get("format") not in known or not guard.get("complete"):
        return ["the grader's own record of the test run is missing (the run ended early, "
                "or the record was removed)"]
    problems = [f"the test runner was tampered with: {_names([t])}" for t in guard.get("tampered", [])[:SHOW]
                if isinstance(t, str)]
    if guard["format"] == "dgm-unittest-guard-1":
        return problems + _check_unittest(guard, lines or [], summary, failing or [])
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
