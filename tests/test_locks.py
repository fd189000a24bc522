"""RunLock: one owner per run directory, named when refused, freed by the kernel when the owner dies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dgm.errors import BadInput
from dgm.locks import RUN_LOCK_FILE, RunLock, run_holder

HOLD = ("import sys, time\n"
        "from pathlib import Path\n"
        "from dgm.locks import RunLock\n"
        "RunLock.acquire(Path(sys.argv[1]), what='test holder')\n"
        "print('held', flush=True)\n"
        "sys.stdin.read()  # until the test closes it, or kills us\n")


@pytest.fixture
def holder(tmp_path: Path):
    """A separate live process holding tmp_path/run."""
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    yield run, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_a_second_owner_is_refused_naming_the_first(holder) -> None:
    run, proc = holder
    with pytest.raises(BadInput) as refused:
        RunLock.acquire(run, what="second")
    message = str(refused.value)
    assert f"dgm process {proc.pid} (test holder) on {socket.gethostname()}" in message
    assert "\n" not in message and refused.value.exit_code == 2
    found = run_holder(run)
    assert found is not None and found.pid == proc.pid


def test_sigkill_frees_the_lock_for_the_next_owner(holder) -> None:
    run, proc = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert run_holder(run) is None  # the stale record does not count
    with RunLock.acquire(run, what="after the crash"):
        record = json.loads((run / RUN_LOCK_FILE).read_text())
        assert record["pid"] == os.getpid() and record["what"] == "after the crash"
        assert run_holder(run) is not None and run_holder(run).pid == os.getpid()
    assert run_holder(run) is None


def test_closing_releases_and_in_process_reacquire_works(tmp_path: Path) -> None:
    lock = RunLock.acquire(tmp_path / "run", what="one")
    lock.release()
    lock.release()  # twice is harmless
    RunLock.acquire(tmp_path / "run", what="two").release()


def test_a_directory_that_cannot_hold_a_lock_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(BadInput, match="cannot open"):
        RunLock.acquire(tmp_path / "file", what="x")
