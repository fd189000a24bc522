"""One test run in a fresh sandbox: apply a patch, apply the test patch, run the tests.

The log it returns has the official harness's framing, so swebench's own `get_logs_eval`
reads it: apply failures carry ">>>>> Patch Apply Failed", the test output sits between
">>>>> Start Test Output" and ">>>>> End Test Output", followed by the exit code.
"""

from __future__ import annotations

import shlex
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from dgm.bench.applycheck import (LIST_SCRIPT, changed_inputs, check_changes, inputs_script, parse_digests,
                                  parse_listing)
from dgm.bench.instances import TaskInstance
from dgm.bench.patches import screen_patch
from dgm.bench.runguard import (GUARD_FD, OUT_DIR, RunnerPlan, cached_plugins, engine_files, eval_script, plan_for,
                                probe_command, read_guard, remember_plugins)
from dgm.bench.store import TaskEnvironment

START = ">>>>> Start Test Output"
END = ">>>>> End Test Output"
APPLY_FAILED = ">>>>> Patch Apply Failed"
TIMED_OUT = ">>>>> Tests Timed Out"
EXIT_CODE = ">>>>> Test Exit Code"
# swebench's markers; test output (which a model patch controls) must not forge them.
_MARKERS = (START, END, APPLY_FAILED, TIMED_OUT, EXIT_CODE, ">>>>> Reset Failed", ">>>>> Tests Errored")
# The official harness's order of attempts: strict, with rejects, then fuzzy `patch`.
APPLY_COMMANDS = (
    "git apply --verbose {p}",
    "git apply --verbose --reject {p}",
    "patch --batch --fuzz=5 -p1 -i {p}",
)
LOG_CAP = 50_000_000
STAMP = "/tmp/dgm/stamp"


@dataclass
class TestRun:
    """What happened in one run; `log` is in the harness's framing."""

    log: str
    patch_applied: bool
    timed_out: bool
    seconds: float
    error: str | None = None
    exit_code: int | None = None
    output: str = ""  # the test command's output as read (markers defused)
    plan: RunnerPlan | None = None
    guard: dict | None = None  # the guard plugin's record, when it ran
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (path, why) removed from the patch
    integrity: list[str] = field(default_factory=list)  # disagreements found while applying


def neutralize(output: str) -> str:
    """Test output with swebench's marker lines defused (they would steer the parser)."""
    for marker in _MARKERS:
        output = output.replace(marker, marker.replace(">>>>> ", ">>>>>_"))
    return output


def _apply(box, path: str, what: str, log: list[str], commands=APPLY_COMMANDS,
           before: str = "", after: str = "") -> tuple[bool, str]:
    """Apply the patch at PATH; BEFORE/AFTER are shell run around a successful attempt, their output returned."""
    for attempt, template in enumerate(commands):
        if attempt:  # undo what a partial --reject left (only the model patch retries, on a clean tree)
            box.exec("git checkout -q -- . && git clean -fdq", timeout=300)
        command = template.format(p=shlex.quote(path))
        nonce = uuid.uuid4().hex
        script = (f"{before}{command} 2>&1; rc=$?; printf '\\n{nonce}\\n'; "
                  f"if [ $rc -eq 0 ]; then {after or ':'}; fi; exit $rc")
        res = box.exec(script, timeout=300)
        shown, _, extra = res.output.rpartition(f"\n{nonce}\n")
        log.append(f"+ {template.format(p=path)}\n{shown if _ else res.output}")
        if res.ok:
            log.append(f">>>>> Applied {what}\n")
            return True, extra if not res.truncated else ""
    return False, ""


def _test_patch_paths(test_patch: str) -> list[str]:
    """The files the hidden test patch touches (dataset data; an unreadable patch names none)."""
    from dgm.diffs import DiffRefused, changed_paths

    try:
        return changed_paths(test_patch) if test_patch.strip() else []
    except DiffRefused:
        return []


def _put_inputs(box, files: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory(prefix="dgm-grade-") as tmp:
        root = Path(tmp)
        (root / "out").mkdir()
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        box.put_tree(root, "/tmp/dgm")


def run_tests(instance: TaskInstance, env: TaskEnvironment, patch: str, *, run_id: str,
              limits=None, test_timeout: float | None = None, command: str | None = None,
              test_patch: str | None = None) -> TestRun:
    """Fresh sandbox from env.image; PATCH (protected files dropped), test patch, test command.

    COMMAND and TEST_PATCH replace the task's own (the wider run, dgm.bench.wider, runs other test
    files on the unpatched tests). The model patch is screened against the task's test patch either way.
    """
    from dgm.sandbox.driver import Limits, Sandbox

    limits = limits or Limits()
    command = command or env.test_command
    test_patch = instance.test_patch if test_patch is None else test_patch
    started = time.monotonic()
    log: list[str] = []
    screened = screen_patch(patch, instance.test_patch, instance.repo) if patch.strip() else None
    if screened and screened.refused:
        log.append(f"the model patch cannot be read unambiguously: {screened.refused}\n{APPLY_FAILED}\n")
        return TestRun("".join(log), False, False, time.monotonic() - started,
                       f"the model patch was refused: {screened.refused}")
    text = screened.text if screened else ""
    plan = plan_for(command, env.log_parser, instance.repo)
    nonce = uuid.uuid4().hex
    plugins = cached_plugins(env.image)
    probe = f"{probe_command()} > /tmp/dgm/plugins.json; " if plan.kind == "pytest" and plugins is None else ""
    files = {**engine_files(), "model.diff": text.encode(), "test.diff": test_patch.encode()}
    integrity: list[str] = []
    with Sandbox.start(env.image, run_id=run_id, limits=limits, workdir=env.repo_dir) as box:
        _put_inputs(box, files)
        if probe:
            plugins = remember_plugins(env.image, box.exec(probe + "cat /tmp/dgm/plugins.json", timeout=120).output)
        plan.plugins = list(plugins or [])
        if text:
            ok, listing = _apply(box, "/tmp/dgm/model.diff", "Patch", log,
                                 before=f"touch {STAMP} && sleep 0.02 && ", after=LIST_SCRIPT.format(stamp=STAMP))
            if not ok:
                log.append(APPLY_FAILED + "\n")
                return TestRun("".join(log), False, False, time.monotonic() - started,
                               "the model patch does not apply", dropped=screened.dropped)
            integrity = check_changes(parse_listing(listing), screened.paths, instance.repo)
        # The test patch is made for the base: strict only, nothing to undo on top of the model's.
        if test_patch.strip() and not _apply(box, "/tmp/dgm/test.diff", "Test Patch", log,
                                              commands=APPLY_COMMANDS[:1])[0]:
            log.append(APPLY_FAILED + " (test patch)\n")
            return TestRun("".join(log), bool(text), False, time.monotonic() - started,
                           "the test patch does not apply", dropped=screened.dropped if screened else [],
                           integrity=integrity)
        digests = inputs_script(_test_patch_paths(test_patch))
        inputs_before = parse_digests(box.exec(digests, timeout=120).output)
        script = eval_script(env.repo_dir, command, plan, nonce)
        box.put_file("/tmp/dgm/eval.sh", script.encode(), 0o755)
        # fd 3 stays the exec's own stream (the guard's channel); the tests' output goes to the log file
        res = box.exec(f"bash /tmp/dgm/eval.sh {GUARD_FD}>&1 > {OUT_DIR}/test_output.txt 2>&1",
                       timeout=test_timeout or limits.exec_seconds)
        guard = read_guard(res.output, nonce) if plan.guarded else None
        if box.is_running():
            # Nothing the tests started may still be writing: then the inputs are hashed again.
            box.exec("kill -KILL -1 2>/dev/null; true", timeout=60)
            integrity += changed_inputs(inputs_before, parse_digests(box.exec(digests, timeout=120).output))
        with tempfile.TemporaryDirectory(prefix="dgm-grade-out-") as tmp:
            try:
                box.get_tree(OUT_DIR, Path(tmp), max_bytes=LOG_CAP)
                raw = (Path(tmp) / "test_output.txt").read_bytes()
                output = raw.decode("utf-8", "replace")
            except Exception as exc:  # noqa: BLE001 - an oversized or missing log is a failed run
                output = f"(test output unavailable: {exc})\n"
    output = neutralize(output)
    log += [f"+ {command}\n", START + "\n", output]
    if not output.endswith("\n"):
        log.append("\n")
    log.append(END + "\n")
    if res.timed_out:
        log.append(TIMED_OUT + "\n")
    log.append(f"{EXIT_CODE}: {res.exit_code if res.exit_code is not None else -1}\n")
    error = "tests timed out" if res.timed_out else ("tests killed: out of memory" if res.oom_killed else None)
    return TestRun("".join(log), bool(text), res.timed_out, time.monotonic() - started, error,
                   exit_code=res.exit_code, output=output, plan=plan, guard=guard,
                   dropped=screened.dropped if screened else [], integrity=integrity)
