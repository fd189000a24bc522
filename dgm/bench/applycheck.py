"""The second channel: after applying, ask the filesystem and git which paths changed.

The parsed patch says which files it touches; `git apply` or `patch` decides what is written.
Both must name the same set, and that set must hold no protected path. A disagreement means
the diff was read one way and applied another: the run is an error, never resolved.
"""

from __future__ import annotations

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
