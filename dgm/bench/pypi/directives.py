"""Which tests a task runs: the test files its test patch touches, in each runner's terms."""

from __future__ import annotations

import re

# Files a test patch may touch that are fixtures, not tests to run (as swebench treats them).
NON_TEST_EXTS = (".json", ".png", "csv", ".txt", ".md", ".jpg", ".jpeg", ".pkl", ".yml",
                 ".yaml", ".toml")

_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)


def patched_files(patch: str) -> list[str]:
    """Paths (post-image) a unified git diff touches, in order, without repeats."""
    seen: dict[str, None] = {}
    for _a, b in _DIFF_HEADER.findall(patch):
        seen.setdefault(b, None)
    return list(seen)


def directives_for(repo: str, test_patch: str) -> list[str]:
    """Arguments for the repository's test runner: test files, or Django test modules."""
    files = [f for f in patched_files(test_patch) if not f.endswith(NON_TEST_EXTS)]
    if repo != "django/django":
        return files
    modules = []
    for path in files:
        if not path.endswith(".py"):
            continue
        name = path[: -len(".py")]
        name = name[len("tests/"):] if name.startswith("tests/") else name
        module = name.replace("/", ".")
        if module not in modules:
            modules.append(module)
    return modules
