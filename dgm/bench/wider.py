"""The tests around a change: the repository's own tests of the files a model patch changes.

The hidden tests say whether a patch fixes its issue; they say little of what else it broke. The
wider run picks, for each Python source file the patch changes, the repository's existing test
files that target it (pick_tests), leaving out the files the task's test patch touches (the hidden
tests), and runs them twice, each time in a fresh grading sandbox with the grader's hardening
(testrun.run_tests): on the before state, and with the model patch applied. Neither run applies the
test patch, and neither is the hidden tests' run: nothing here can change a verdict. The task's
log parser reads both logs; a test that passed before and fails, errors or is gone after is a break.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Collection, Sequence

from dgm.bench.instances import TaskInstance
from dgm.bench.protected import is_test_path, runner_reason
from dgm.bench.store import TaskEnvironment

FORMAT = "dgm-wider-1"
MAX_FILES = 5          # test files run per task run
MAX_TESTS = 500        # per-test rows kept in a record (breaks first)
NAME_CHARS = 300
SOURCE_SUFFIXES = (".py", ".pyx")
TEST_DIRS = ("tests", "test", "testing")
STATUSES = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL")
BROKEN = ("FAILED", "ERROR")
TREE_CAP = 20_000_000  # bytes of `git ls-files` output read from the image
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_tree_by_image: dict[str, list[str]] = {}
# The before run runs no child's code: one image (tags are content hashes) and one command give one
# result, so each is run once per process, not once per task run. Only runs that were believed are kept.
_before_by_run: dict[tuple[str, str], dict[str, str]] = {}


@dataclass
class WiderRecord:
    """One wider run: the test files picked, each test's status before and after, and the breaks."""

    instance_id: str
    files: list[str] = field(default_factory=list)  # the test files run ([] when none were found)
    command: str = ""
    tests: dict[str, list] = field(default_factory=dict)  # name -> [before, after] (None: not reported)
    breaks: list[str] = field(default_factory=list)  # passed before; failed, errored or gone after
    skipped: str | None = None  # why nothing ran (no tests around the change, a command without files)
    before_errors: list[str] = field(default_factory=list)  # the run errored, timed out or is not believed
    after_errors: list[str] = field(default_factory=list)
    truncated: bool = False  # more tests than MAX_TESTS were reported
    seconds: float = 0.0
    before_cached: bool = False  # the before run's statuses were those of an earlier run of the same command
    format: str = FORMAT

    def to_dict(self) -> dict:
        return asdict(self)


def _inert(text: str, limit: int = NAME_CHARS) -> str:
    return _CONTROL.sub("?", text)[:limit]


def _key(path: str) -> str:
    """The name a test file is known by: test_x.py, x_test.py, x_tests.py, tests_x.py -> x."""
    stem = PurePosixPath(path).stem.lower()
    for prefix in ("test_", "tests_"):
        if stem.startswith(prefix):
            return stem[len(prefix):].lstrip("_")
    for suffix in ("_tests", "_test"):
        if stem.endswith(suffix):
            return stem[:-len(suffix)].lstrip("_")
    return ""


def _source_key(path: str) -> str:
    """The module name a source file's tests carry: pkg/_ridge.py -> ridge, pkg/sub/__init__.py -> sub."""
    p = PurePosixPath(path)
    stem = p.parent.name if p.stem == "__init__" else p.stem
    return stem.lower().lstrip("_")


def _shared(a: str, b: str) -> int:
    """How many leading folders two paths share (the closer test file comes first)."""
    n = 0
    for x, y in zip(PurePosixPath(a).parent.parts, PurePosixPath(b).parent.parts):
        if x != y:
            break
        n += 1
    return n


def _runnable(path: str, hidden: Collection[str], repo: str) -> bool:
    return (path.endswith(".py") and is_test_path(path) and path not in hidden
            and runner_reason(path, repo) is None)


def _in_test_folder(path: str) -> bool:
    name = PurePosixPath(path).name
    return _key(path) != "" or name == "tests.py"


def _nearest_test_dir(source: str, candidates: list[str]) -> list[str]:
    """The test files directly in the test folder nearest to SOURCE (D/tests, D/test, D/testing for D
    the source's folder, then each folder above it): a package's own tests when none is named for it."""
    for folder in PurePosixPath(source).parents:
        for name in TEST_DIRS:
            found = sorted(c for c in candidates if PurePosixPath(c).parent == folder / name and _in_test_folder(c))
            if found:
                return found
    return []


def sources_of(changed: Sequence[str], repo: str = "") -> list[str]:
    """The Python source files among a patch's paths: not tests, not the runner's files."""
    return [p for p in changed
            if p.endswith(SOURCE_SUFFIXES) and not is_test_path(p) and runner_reason(p, repo) is None]


def pick_tests(changed: Sequence[str], tree: Sequence[str], hidden: Collection[str],
               *, repo: str = "", cap: int = MAX_FILES) -> list[str]:
    """The tests around a change, at most CAP files of TREE (the before state's paths).

    For each changed Python source file, in the patch's order: the test files named for its module
    (test_<m>.py, tests_<m>.py, <m>_test.py, <m>_tests.py, where <m> is the file's stem, or its
    package's name for __init__.py, leading underscores dropped), closest folder first; when none is
    left, the test files directly in the nearest test folder (tests/, test/ or testing/ next to the
    file or above it). Test files the task's test patch touches (HIDDEN) and the runner's own files
    (conftest.py, runtests.py, REPO's runner scripts) are never picked.
    """
    candidates = [p for p in tree if _runnable(p, hidden, repo)]
    picked: list[str] = []
    for source in sources_of(changed, repo):
        key = _source_key(source)
        named = sorted((c for c in candidates if key and _key(c) == key), key=lambda c: (-_shared(c, source), c))
        for path in named or _nearest_test_dir(source, candidates):
            if path not in picked:
                picked.append(path)
    return picked[:cap]


def _label(path: str) -> str:
    """Django's runtests label of a test file (tests/app/test_x.py -> app.test_x)."""
    rel = path[len("tests/"):] if path.startswith("tests/") else path
    return rel[:-3].replace("/", ".") if rel.endswith(".py") else rel


def wider_command(test_command: str, hidden: Sequence[str], files: Sequence[str]) -> str | None:
    """The task's test command with the hidden test files it names replaced by FILES, in the form the
    command names them (paths, or Django's dotted labels); None when it names none of them."""
    import shlex

    for form in (lambda p: p, _label):
        tokens = [form(p) for p in hidden]
        pattern = re.compile(r"(?<!\S)(" + "|".join(re.escape(t) for t in tokens if t) + r")(?!\S)")
        if not tokens or not pattern.search(test_command):
            continue
        replacement = " ".join(shlex.quote(form(f)) for f in files)
        first = pattern.search(test_command)
        head, tail = test_command[:first.start()], test_command[first.end():]
        tail = re.sub(r" {2,}", " ", pattern.sub("", tail))
        return (head + replacement + tail).rstrip(" ")
    return None


def tree_of(env: TaskEnvironment, *, run_id: str, limits=None) -> list[str]:
    """The before state's tracked paths, listed in a sandbox of the task image (cached per image)."""
    from dgm.sandbox.driver import Limits, Sandbox

    if env.image in _tree_by_image:
        return _tree_by_image[env.image]
    with Sandbox.start(env.image, run_id=run_id, limits=limits or Limits(), workdir=env.repo_dir) as box:
        res = box.exec(["git", "-c", "core.quotepath=off", "ls-files", "-z"], timeout=120)
    if not res.ok or res.truncated:
        return []
    raw = res.output[:TREE_CAP]
    paths = [p for p in raw.split("\0") if p and len(p) <= 4096 and not _CONTROL.search(p)]
    _tree_by_image[env.image] = paths
    return paths


def _statuses(instance: TaskInstance, env: TaskEnvironment, run) -> tuple[dict[str, str], list[str]]:
    """The task parser's status per test, and why the run is not to be believed (empty when it is)."""
    from dgm.bench.grading import _integrity, status_map

    problems = [run.error] if run.error else []
    problems += _integrity(instance, env, run)
    found, ok = status_map(instance, env, run.log)
    statuses = {_inert(str(t)): str(s) for t, s in found.items() if str(s) in STATUSES} if ok else {}
    if not ok and not problems:
        problems.append("the log has no test results")
    return statuses, [_inert(p, 500) for p in problems]


def compare(before: dict[str, str], after: dict[str, str], *, cap: int = MAX_TESTS) -> tuple[dict, list[str], bool]:
    """Per test [before, after], the breaks (passed before; failed, errored or missing after), and
    whether rows were dropped to keep CAP (breaks are kept first)."""
    names = sorted(set(before) | set(after))
    breaks = [t for t in names if before.get(t) == "PASSED" and (after.get(t) in BROKEN or t not in after)]
    kept = breaks + [t for t in names if t not in breaks]
    return ({t: [before.get(t), after.get(t)] for t in kept[:cap]}, breaks[:cap], len(kept) > cap)


def wider_run(instance: TaskInstance, env: TaskEnvironment, model_patch: str, *, run_id: str,
              limits=None) -> WiderRecord:
    """Run the tests around MODEL_PATCH's source changes before and after it, in grading sandboxes."""
    from dgm.bench.patches import screen_patch
    from dgm.bench.testrun import _test_patch_paths, run_tests

    started = time.monotonic()
    record = WiderRecord(instance.instance_id)
    screened = screen_patch(model_patch, instance.test_patch, instance.repo)
    if screened.refused or not sources_of(screened.paths, instance.repo):
        record.skipped = "the patch cannot be read" if screened.refused else "the patch changes no Python source file"
        return record
    hidden = _test_patch_paths(instance.test_patch)
    record.files = pick_tests(screened.paths, tree_of(env, run_id=run_id, limits=limits), set(hidden),
                              repo=instance.repo)
    command = wider_command(env.test_command, hidden, record.files) if record.files else None
    if not record.files or command is None:
        record.skipped = ("no test file targets the changed source files" if not record.files
                          else "the test command names none of the hidden test files")
        record.seconds = round(time.monotonic() - started, 3)
        return record
    record.command = _inert(command, 2000)
    key = (env.image, command)
    before = _before_by_run.get(key)
    record.before_cached = before is not None
    if before is None:
        before_run = run_tests(instance, env, "", run_id=run_id, limits=limits, command=command, test_patch="")
        before, record.before_errors = _statuses(instance, env, before_run)
        if not record.before_errors:
            _before_by_run[key] = before
    after_run = run_tests(instance, env, model_patch, run_id=run_id, limits=limits, command=command, test_patch="")
    if not after_run.patch_applied:
        record.skipped = "the model patch does not apply"
    after, record.after_errors = _statuses(instance, env, after_run)
    record.tests, breaks, record.truncated = compare(before, after)
    # A run that is not believed shows no break: the verifier reads its errors instead.
    record.breaks = breaks if after_run.patch_applied and not record.before_errors and not record.after_errors else []
    record.seconds = round(time.monotonic() - started, 3)
    return record
