"""The second channel: after applying, ask the filesystem and git which paths changed.

The parsed patch says which files it touches; `git apply` or `patch` decides what is written.
Both must name the same set, and that set must hold no protected path. A disagreement means
the diff was read one way and applied another: the run is an error, never resolved.
"""

from __future__ import annotations

import shlex

from dgm.bench.protected import protected_reason

# Shell run inside the sandbox right after a successful apply, in the repository. Files whose
# inode changed since the stamp (content, mode, creation), and tracked files now missing.
# NUL-separated (paths are data), sections split by a NUL-framed word no path can equal.
LIST_SCRIPT = ("git -c core.quotepath=off diff --name-only --no-renames --diff-filter=D -z HEAD -- "
               "2>/dev/null; printf '\\0--dgm-changed--\\0'; "
               "find . -path ./.git -prune -o ! -type d -cnewer {stamp} -print0")
SEPARATOR = "\0--dgm-changed--\0"
SHOW = 5


def parse_listing(output: str) -> set[str] | None:
    """The changed paths from LIST_SCRIPT's output (None when it is not in that shape)."""
    if SEPARATOR not in output:
        return None
    deleted, _, found = output.partition(SEPARATOR)
    paths = {p for p in deleted.split("\0") if p}
    for p in found.split("\0"):
        if p.startswith("./"):
            paths.add(p[2:])
        elif p:
            return None
    return paths


def check_changes(changed: set[str] | None, parsed: list[str], repo: str = "") -> list[str]:
    """Problems: paths written that the parsed patch does not name, or protected paths written."""
    if changed is None:
        return ["could not list the files the patch changed"]
    expected = set(parsed)
    backups = {p + suffix for p in expected for suffix in (".orig", ".rej")}  # `patch` and --reject leave these
    problems: list[str] = []
    extra = sorted(changed - expected - backups)
    if extra:
        problems.append("applying the patch changed files its diff does not name: " + ", ".join(extra[:SHOW]))
    untouched = sorted(expected - changed)
    if untouched:
        problems.append("the patch names files that applying it did not change: " + ", ".join(untouched[:SHOW]))
    for path in sorted(changed - backups):
        reason = protected_reason(path, repo)
        if reason:
            problems.append(f"applying the patch changed {path}: {reason}")
    return problems


# ---- the tests' own inputs, before and after the run ---------------------------------------------
# What the runner reads to decide: the files the hidden test patch touches, every conftest.py and the
# runner's configuration files (each by name), and every Python file of the test code (one digest over
# all of them: Django's tests alone are thousands of files). Code under test runs with the same uid and
# could rewrite them (say, from the package's __init__ before the test modules are collected, or a
# fixture module the tests import), so they are hashed right after the test patch is applied and again
# once every process of the run is gone.
_INPUT_NAMES = ("conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "pyproject.toml")
_TEST_CODE = ("\\( -path '*/tests/*' -o -path '*/test/*' -o -path '*/testing/*' -o -name 'test_*.py' "
              "-o -name '*_test.py' -o -name tests.py -o -name runtests.py \\) -name '*.py'")
ALL_TEST_CODE = "[every Python file of the test code]"
DIGEST_CAP = 1_000_000


def inputs_script(test_patch_paths: list[str]) -> str:
    """Shell printing `sha256  path` lines for the run's test inputs (run in the repository)."""
    names = " -o ".join(f"-name {n}" for n in _INPUT_NAMES)
    listed = " ".join(shlex.quote("./" + p) for p in test_patch_paths)
    skip = "-path ./.git -prune -o -name __pycache__ -prune -o -name .pytest_cache -prune -o"
    return (f"{{ find . {skip} -type f \\( {names} \\) -print0; "
            f"for p in {listed or '/dev/null/none'}; do [ -e \"$p\" ] && printf '%s\\0' \"$p\"; done; }} "
            "| sort -zu | xargs -0 -r /usr/bin/sha256sum -- 2>&1; "
            f"all=$(find . {skip} -type f {_TEST_CODE} -print0 | sort -z "
            "| xargs -0 -r /usr/bin/sha256sum -- | /usr/bin/sha256sum); "
            f"printf '%s  %s\\n' \"${{all%% *}}\" {shlex.quote(ALL_TEST_CODE)}")


def parse_digests(output: str) -> dict[str, str]:
    """path -> sha256 from inputs_script's output (untrusted text: only well-formed lines count)."""
    out: dict[str, str] = {}
    for line in output[:DIGEST_CAP].splitlines():
        digest, sep, path = line.partition("  ")
        if sep and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
            out[path[2:] if path.startswith("./") else path] = digest
    return out


def changed_inputs(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """Problems: test inputs that changed, appeared or vanished while the tests ran."""
    moved = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    if not moved:
        return []
    return ["files the test runner reads changed while the tests ran: " + ", ".join(moved[:SHOW])
            + (f" (+{len(moved) - SHOW} more)" if len(moved) > SHOW else "")]
