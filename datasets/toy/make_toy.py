"""Regenerate toy.jsonl: SWE-bench rows whose patches are made by git over repos/<name>.

Run from anywhere: `python datasets/toy/make_toy.py`. Each task is a real bug in the
repository as kept here (the shared "before" state); `patch` fixes it and `test_patch`
adds the tests that expose it. The base commit is the commit dgm's environment builder
makes from the same files (sandbox/env/instance.sh) (fixed author and date), so it is reproducible.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The same identity and date sandbox/env/instance.sh uses for the base commit.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "dgm", "GIT_AUTHOR_EMAIL": "dgm@dgm.invalid",
    "GIT_COMMITTER_NAME": "dgm", "GIT_COMMITTER_EMAIL": "dgm@dgm.invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000",
}

TASKS = [
    {
        "instance_id": "dgm-toy__calc-1",
        "repo": "calc",
        "problem_statement": (
            "divide() truncates results\n\n`calc.divide(7, 2)` returns `3`, but the docs call it "
            "division, and users expect `3.5`. Only division by zero should be special."
        ),
        "fix": {"calc/arith.py": [("return a // b", "return a / b")]},
        "tests": {"tests/test_arith.py": [("def test_divide_by_zero", (
            "def test_divide_fraction():\n    assert divide(7, 2) == 3.5\n\n\n"
            "def test_divide_negative():\n    assert divide(-7, 2) == -3.5\n\n\n"
            "def test_divide_by_zero"))]},
        "FAIL_TO_PASS": ["tests/test_arith.py::test_divide_fraction", "tests/test_arith.py::test_divide_negative"],
        "PASS_TO_PASS": ["tests/test_arith.py::test_add", "tests/test_arith.py::test_subtract",
                         "tests/test_arith.py::test_multiply", "tests/test_arith.py::test_divide_exact",
                         "tests/test_arith.py::test_divide_by_zero"],
    },
    {
        "instance_id": "dgm-toy__calc-2",
        "repo": "calc",
        "problem_statement": (
            "median() is wrong for an even number of values\n\n`calc.median([1, 2, 3, 4])` "
            "returns `3`; the median of an even-length sample is the mean of the two middle values (2.5)."
        ),
        "fix": {"calc/stats.py": [("    return ordered[len(ordered) // 2]\n", (
            "    middle = len(ordered) // 2\n"
            "    if len(ordered) % 2:\n"
            "        return ordered[middle]\n"
            "    return (ordered[middle - 1] + ordered[middle]) / 2\n"))]},
        "tests": {"tests/test_stats.py": [("def test_median_empty", (
            "def test_median_even():\n    assert median([4, 1, 3, 2]) == 2.5\n\n\n"
            "def test_median_empty"))]},
        "FAIL_TO_PASS": ["tests/test_stats.py::test_median_even"],
        "PASS_TO_PASS": ["tests/test_stats.py::test_mean", "tests/test_stats.py::test_mean_empty",
                         "tests/test_stats.py::test_median_odd", "tests/test_stats.py::test_median_empty"],
    },
    {
        "instance_id": "dgm-toy__textkit-1",
        "repo": "textkit",
        "problem_statement": (
            "slugify leaves dashes at the ends\n\n`textkit.slugify(\"Hello, World!\")` gives "
            "`hello-world-` and `slugify(\"  spaced  \")` gives `-spaced-`. Slugs should not start or "
            "end with a dash."
        ),
        "fix": {"textkit/slug.py": [('    return re.sub(r"[^a-z0-9]+", "-", text)\n',
                                     '    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")\n')]},
        "tests": {"tests/test_slug.py": [(None, (
            "\n\ndef test_slugify_punctuation():\n    assert slugify(\"Hello, World!\") == \"hello-world\"\n"
            "\n\ndef test_slugify_surrounding_space():\n    assert slugify(\"  spaced  \") == \"spaced\"\n"))]},
        "FAIL_TO_PASS": ["tests/test_slug.py::test_slugify_punctuation",
                         "tests/test_slug.py::test_slugify_surrounding_space"],
        "PASS_TO_PASS": ["tests/test_slug.py::test_slugify_words", "tests/test_slug.py::test_slugify_digits"],
    },
    {
        "instance_id": "dgm-toy__textkit-2",
        "repo": "textkit",
        "problem_statement": (
            "snake_to_camel keeps upper case in the first word\n\n`snake_to_camel(\"HTTP_status\")` "
            "returns `HTTPStatus`; camelCase starts with a lower-case word, so it should be `httpStatus`."
        ),
        "fix": {"textkit/case.py": [("    return head + ", "    return head.lower() + ")]},
        "tests": {"tests/test_case.py": [(None, (
            "\n\ndef test_upper_first_word():\n    assert snake_to_camel(\"HTTP_status\") == \"httpStatus\"\n"))]},
        "FAIL_TO_PASS": ["tests/test_case.py::test_upper_first_word"],
        "PASS_TO_PASS": ["tests/test_case.py::test_snake_to_camel", "tests/test_case.py::test_single_word"],
    },
]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def edit(root: Path, edits: dict) -> None:
    for rel, changes in edits.items():
        path = root / rel
        text = path.read_text()
        for old, new in changes:
            if old is None:
                text = text + new
            else:
                assert text.count(old) == 1, (rel, old)
                text = text.replace(old, new)
        path.write_text(text)


def diff_of(repo: Path, edits: dict) -> str:
    edit(repo, edits)
    out = git(repo, "diff")
    git(repo, "checkout", "--", ".")
    return out


def make_row(task: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
        shutil.copytree(HERE / "repos" / task["repo"], repo, ignore=ignore)
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "--no-verify", "-m", "base")
        base = git(repo, "rev-parse", "HEAD").strip()
        patch = diff_of(repo, task["fix"])
        test_patch = diff_of(repo, task["tests"])
    test_files = sorted(task["tests"])
    return {
        "repo": f"dgm-toy/{task['repo']}",
        "instance_id": task["instance_id"],
        "base_commit": base,
        "patch": patch,
        "test_patch": test_patch,
        "problem_statement": task["problem_statement"],
        "hints_text": "",
        "created_at": "2026-01-01T00:00:00Z",
        "version": "0.1",
        "FAIL_TO_PASS": json.dumps(task["FAIL_TO_PASS"]),
        "PASS_TO_PASS": json.dumps(task["PASS_TO_PASS"]),
        "environment_setup_commit": base,
        "dgm_source": {"kind": "local", "path": f"repos/{task['repo']}"},
        "log_parser": "pytest",
        "test_command": "python -m pytest -rA -p no:cacheprovider " + " ".join(test_files),
    }


def main() -> None:
    rows = [make_row(t) for t in TASKS]
    with open(HERE / "toy.jsonl", "w") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
    print(f"wrote {len(rows)} rows to {HERE / 'toy.jsonl'}")


if __name__ == "__main__":
    main()
