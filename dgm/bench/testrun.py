"""One test run in a fresh sandbox: apply a patch, apply the test patch, run the tests.

The log it returns has the official harness's framing, so swebench's own `get_logs_eval`
reads it: apply failures carry ">>>>> Patch Apply Failed", the test output sits between
">>>>> Start Test Output" and ">>>>> End Test Output", followed by the exit code.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from dgm.bench.instances import TaskInstance
from dgm.bench.patches import drop_test_changes
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


@dataclass
class TestRun:
    """What happened in one run; `log` is in the harness's framing."""

    log: str
    patch_applied: bool
    timed_out: bool
    seconds: float
    error: str | None = None


def neutralize(output: str) -> str:
    """Test output with swebench's marker lines defused (they would steer the parser)."""
    for marker in _MARKERS:
        output = output.replace(marker, marker.replace(">>>>> ", ">>>>>_"))
    return output


def _apply(box, patch: str, path: str, what: str, log: list[str], commands=APPLY_COMMANDS) -> bool:
    box.put_file(path, patch.encode())
    for attempt, template in enumerate(commands):
        if attempt:  # undo what a partial --reject left (only the model patch retries, on a clean tree)
            box.exec("git checkout -q -- . && git clean -fdq", timeout=300)
        res = box.exec(template.format(p=shlex.quote(path)), timeout=300)
        log.append(f"+ {template.format(p=path)}\n{res.output}")
        if res.ok:
            log.append(f">>>>> Applied {what}\n")
            return True
    return False


def run_tests(instance: TaskInstance, env: TaskEnvironment, patch: str, *, run_id: str,
              limits=None, test_timeout: float | None = None) -> TestRun:
    """Fresh sandbox from env.image; PATCH (test-file edits dropped), test patch, test command."""
    from dgm.sandbox.driver import Limits, Sandbox

    limits = limits or Limits()
    started = time.monotonic()
    log: list[str] = []
    patch = drop_test_changes(patch, instance.test_patch) if patch.strip() else ""
    with Sandbox.start(env.image, run_id=run_id, limits=limits, workdir=env.repo_dir) as box:
        if patch and not _apply(box, patch, "/tmp/dgm/model.diff", "Patch", log):
            log.append(APPLY_FAILED + "\n")
            return TestRun("".join(log), False, False, time.monotonic() - started,
                           "the model patch does not apply")
        # The test patch is made for the base: strict only, nothing to undo on top of the model's.
        if instance.test_patch.strip() and not _apply(box, instance.test_patch, "/tmp/dgm/test.diff",
                                                       "Test Patch", log, commands=APPLY_COMMANDS[:1]):
            log.append(APPLY_FAILED + " (test patch)\n")
            return TestRun("".join(log), bool(patch), False, time.monotonic() - started,
                           "the test patch does not apply")
        script = f"cd {shlex.quote(env.repo_dir)}\n{env.test_command}\n"
        box.put_file("/tmp/dgm/eval.sh", script.encode(), 0o755)
        res = box.exec("bash /tmp/dgm/eval.sh > /tmp/dgm/test_output.txt 2>&1",
                       timeout=test_timeout or limits.exec_seconds)
        try:
            output = box.get_file("/tmp/dgm/test_output.txt", max_bytes=LOG_CAP).decode("utf-8", "replace")
        except Exception as exc:  # noqa: BLE001 - an oversized or missing log is a failed run
            output = f"(test output unavailable: {exc})\n"
    log += [f"+ {env.test_command}\n", START + "\n", neutralize(output)]
    if not output.endswith("\n"):
        log.append("\n")
    log.append(END + "\n")
    if res.timed_out:
        log.append(TIMED_OUT + "\n")
    log.append(f"{EXIT_CODE}: {res.exit_code if res.exit_code is not None else -1}\n")
    error = "tests timed out" if res.timed_out else ("tests killed: out of memory" if res.oom_killed else None)
    return TestRun("".join(log), bool(patch), res.timed_out, time.monotonic() - started, error)
