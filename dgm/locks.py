"""Exclusive fcntl file locks: one holder at a time across processes; a run directory's single owner."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from dgm.errors import BadInput

RUN_LOCK_FILE = "run.lock"


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing); blocks until other holders are done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


@dataclass(frozen=True)
class Holder:
    """Who holds a run directory, as recorded in RUN/run.lock."""

    pid: int | None
    host: str
    since: str
    what: str

    def describe(self) -> str:
        who = f"dgm process {self.pid}" if self.pid is not None else "another dgm process"
        return f"{who}{f' ({self.what})' if self.what else ''} on {self.host or '?'} since {self.since or '?'}"


class RunLock:
    """The exclusive claim on a run directory for as long as this process holds it (flock on RUN/run.lock).

    The kernel drops it when the process dies, even by SIGKILL, so a crashed run can be resumed at once."""

    def __init__(self, run_dir: Path, fd: int) -> None:
        self.run_dir = run_dir
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, run_dir: Path, *, what: str) -> "RunLock":
        """Take the lock or fail at once (BadInput, exit 2) naming the process that holds it."""
        run_dir = Path(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(run_dir / RUN_LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise BadInput(f"cannot open {run_dir / RUN_LOCK_FILE}: {exc.strerror}",
                           hint="give a run directory you can write") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _busy(run_dir, _read_holder(run_dir)) from None
        except OSError as exc:  # a filesystem without flock: there is no safe way to share the directory
            os.close(fd)
            raise BadInput(f"cannot lock {run_dir / RUN_LOCK_FILE}: {exc.strerror}",
                           hint="put the run directory on a local filesystem") from None
        # Rewritten in place: replacing the file would give a second process a fresh inode to lock.
        record = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
                  "since": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        return cls(run_dir, fd)

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the record stays, naming the last owner
            self._fd = None


def run_holder(run_dir: Path) -> Holder | None:
    """Who holds RUN's lock now, or None; creates nothing (readers and refusals call it)."""
    try:
        fd = os.open(Path(run_dir) / RUN_LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_holder(Path(run_dir))
    finally:
        os.close(fd)
    return None


def refuse_if_held(run_dir: Path) -> None:
    """BadInput naming the holder when a live process holds RUN."""
    holder = run_holder(run_dir)
    if holder is not None:
        raise _busy(Path(run_dir), holder)


def _busy(run_dir: Path, holder: Holder) -> BadInput:
    stop = f"`kill {holder.pid}`" if holder.pid is not None else "that process"
    return BadInput(f"run directory {run_dir} is in use by {holder.describe()}",
                    hint=f"wait for it to end, or stop it ({stop}) and resume: "
                         f"python -m dgm.evolve --resume {run_dir}")


def _may_hold(record: dict) -> bool:
    """False for the record of a dead process of this host: the new holder has not rewritten it yet."""
    pid = record.get("pid")
    if record.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return True
    return process_alive(pid)


def process_start(pid: int) -> str:
    """The kernel's start time of PID (tells a live process from a reused pid); '' if gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int, start: str = "") -> bool:
    """Whether PID runs (and, given START, is still the process that started then)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or process_start(pid) == start


def _read_holder(run_dir: Path) -> Holder:
    """The holder's record; the holder writes it just after locking, so an empty file is re-read briefly."""
    data: dict = {}
    for _ in range(20):
        try:
            raw = (run_dir / RUN_LOCK_FILE).read_bytes()[:4096]
            data = json.loads(raw) if raw.strip() else {}
        except (OSError, ValueError):
            data = {}
        if isinstance(data, dict) and data and _may_hold(data):
            break
        time.sleep(0.05)
    data = data if isinstance(data, dict) else {}
    pid = data.get("pid")
    return Holder(pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
                  host=str(data.get("host") or "")[:200], since=str(data.get("since") or "")[:40],
                  what=str(data.get("what") or "")[:80])
