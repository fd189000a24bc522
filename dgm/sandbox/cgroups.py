"""Per-sandbox cgroups for bubblewrap, where this process may create them.

Docker and Podman take their limits from the engine. bubblewrap has none: where this process
may create cgroups (root on cgroup v1 or v2; a user whose cgroup v2 subtree is delegated to it,
as systemd's user@.service does), each bubblewrap sandbox gets a cgroup of its own with
Docker's limits: memory (with no swap beyond it: an OOM kill, as in Docker), pids, and CPU
where the cpu controller is there too. Where it may not, rlimits stand in (see
dgm.sandbox.guarantees). DGM_SANDBOX_CGROUPS=off makes bubblewrap use rlimits even where
cgroups could be made.
"""

from __future__ import annotations

import atexit
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dgm.sandbox.hardening import Limits

ENV = "DGM_SANDBOX_CGROUPS"
PERIOD_US = 100_000
PREFIX = "dgm-bwrap-"  # a sandbox's cgroup is PREFIX + its name


@dataclass(frozen=True)
class Parent:
    """Where this process makes sandbox cgroups: controller -> directory (one for all on v2)."""

    version: int
    dirs: tuple[tuple[str, Path], ...]

    @property
    def controllers(self) -> set[str]:
        return {c for c, _ in self.dirs}


def _own_cgroups() -> dict[str, str]:
    """Controller -> this process's cgroup path ("" for the v2 hierarchy)."""
    own: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            own[c] = path
    return own


def _mounts() -> tuple[dict[str, Path], Path | None]:
    """(v1 controller -> its hierarchy's mount point, the v2 hierarchy's mount point)."""
    v1: dict[str, Path] = {}
    v2: Path | None = None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or fields[3] != "/":
            continue  # only whole hierarchies: a bind of a subtree hides the paths above it
        if tail[0] == "cgroup2" and v2 is None:
            v2 = Path(fields[4])
        elif tail[0] == "cgroup":
            for opt in tail[2].split(","):
                v1.setdefault(opt, Path(fields[4]))
    return v1, v2


def _may_create(d: Path) -> bool:
    """Whether a cgroup can be made under D, a process moved into it (as a sandbox's starter
    does: on cgroup v2 that needs write access above both cgroups too) and it removed; tried once."""
    probe = d / f"{PREFIX}probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError:
        return False
    try:
        moved = subprocess.run(["sh", "-c", f'echo $$ > "$1"', "sh", str(probe / "cgroup.procs")],
                               capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        moved = False
    deadline = time.monotonic() + 5  # the probe's process leaves it a moment after it exits
    while not _rmdir(probe) and time.monotonic() < deadline:
        time.sleep(0.01)
    return moved


def cgroups_turned_off() -> bool:
    return os.environ.get(ENV, "").lower() in ("0", "off", "no", "false")


def cgroup_parent() -> Parent | None:
    """Where bubblewrap sandboxes get cgroups on this machine (None: nowhere, or turned off)."""
    return None if cgroups_turned_off() else _cgroup_parent()


@lru_cache(maxsize=1)
def _cgroup_parent() -> Parent | None:
    parent = _find_parent()
    if parent is not None:
        sweep(parent)
    return parent


def sweep(parent: Parent, min_age: float = 60.0) -> int:
    """Remove sandbox cgroups that a dead dgm process left (empty, and older than MIN_AGE seconds,
    so a cgroup just made for a starting sandbox is never taken); how many were removed."""
    removed = 0
    for d in dict.fromkeys(base for _, base in parent.dirs):
        try:
            entries = list(d.glob(f"{PREFIX}*"))
        except OSError:
            continue
        for entry in entries:
            try:
                if time.time() - entry.stat().st_mtime > min_age and entry.is_dir() \
                        and not (entry / "cgroup.procs").read_text().strip():
                    removed += _rmdir(entry)
            except OSError:
                pass
    return removed


def _find_parent() -> Parent | None:
    try:
        own = _own_cgroups()
        v1, v2 = _mounts()
    except OSError:
        return None
    if "memory" in v1 and "pids" in v1:  # v1 (or hybrid): one hierarchy per controller
        dirs = []
        for c in ("memory", "pids", "cpu"):
            if c in v1 and c in own:
                d = v1[c] / own[c].lstrip("/")
                if d.is_dir() and _may_create(d):
                    dirs.append((c, d))
        return Parent(1, tuple(dirs)) if {"memory", "pids"} <= {c for c, _ in dirs} else None
    if v2 is not None and "" in own:
        # Up from this process's cgroup to the first that hands memory and pids to its children
        # and under which this process may make cgroups (its own has processes, so none).
        d = v2 / own[""].lstrip("/")
        while True:
            try:
                enabled = set((d / "cgroup.subtree_control").read_text().split())
            except OSError:
                enabled = set()
            if {"memory", "pids"} <= enabled and _may_create(d):
                return Parent(2, tuple((c, d) for c in ("memory", "pids", "cpu") if c in enabled))
            if d == v2 or d.parent == d:
                return None
            d = d.parent
    return None


class SandboxCgroup:
    """The cgroup(s) of one bubblewrap sandbox, made with its limits; processes enter by writing
    their pid to each of `procs_files` (the sandbox's starter does, before bubblewrap runs)."""

    def __init__(self, parent: Parent, name: str, limits: Limits) -> None:
        self.version = parent.version
        self.dirs: dict[str, Path] = {}
        made: list[Path] = []
        try:
            for c, base in parent.dirs:
                d = base / f"{PREFIX}{name}"
                if d not in made:
                    d.mkdir()
                    made.append(d)
                self.dirs[c] = d
            self._limit(limits)
        except BaseException:
            self.dirs = {}
            for d in made:
                _rmdir(d)
            raise

    def _limit(self, limits: Limits) -> None:
        mem, cpu_quota = limits.memory_mb << 20, max(1000, int(limits.cpus * PERIOD_US))
        if self.version == 1:
            m = self.dirs["memory"]
            (m / "memory.limit_in_bytes").write_text(str(mem))
            if (m / "memory.memsw.limit_in_bytes").exists():  # memory + swap = memory: no swap
                (m / "memory.memsw.limit_in_bytes").write_text(str(mem))
            (self.dirs["pids"] / "pids.max").write_text(str(limits.pids))
            if "cpu" in self.dirs:
                (self.dirs["cpu"] / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (self.dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(cpu_quota))
        else:
            d = self.dirs["memory"]
            (d / "memory.max").write_text(str(mem))
            if (d / "memory.swap.max").exists():
                (d / "memory.swap.max").write_text("0")
            (d / "pids.max").write_text(str(limits.pids))
            if "cpu" in self.dirs:
                (d / "cpu.max").write_text(f"{cpu_quota} {PERIOD_US}")

    @property
    def procs_files(self) -> list[str]:
        return [str(d / "cgroup.procs") for d in dict.fromkeys(self.dirs.values())]

    def oom_kills(self) -> int:
        """How many processes the kernel killed for this sandbox's memory limit so far."""
        d = self.dirs.get("memory")
        if d is None:
            return 0
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            for line in (d / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def kill(self) -> None:
        """SIGKILL every process in the sandbox's cgroup (whatever session or group it made)."""
        for procs in self.procs_files:
            try:
                pids = [int(p) for p in Path(procs).read_text().split()]
            except OSError:
                continue
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def remove(self) -> None:
        """Kill what is left and remove the cgroup(s). A SIGKILLed process leaves its cgroup a
        moment after it dies: what cannot be removed at once is removed by a background thread
        within seconds (and before this process exits), not on the sandbox's critical path."""
        self.kill()
        left = [d for d in dict.fromkeys(self.dirs.values()) if not _rmdir(d)]
        self.dirs = {}
        if left:
            _later.put((self, left, time.monotonic() + REMOVE_SECONDS))
            _start_remover()

    def _retry(self, left: list[Path]) -> list[Path]:
        for d in left:
            try:
                for pid in (d / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        return [d for d in left if not _rmdir(d)]


REMOVE_SECONDS = 10.0
_later: "queue.Queue[tuple[SandboxCgroup, list[Path], float]]" = queue.Queue()
_remover: threading.Thread | None = None
_remover_lock = threading.Lock()


def _start_remover() -> None:
    global _remover
    with _remover_lock:
        if _remover is None:
            _remover = threading.Thread(target=_remove_later, name="dgm-cgroup-remover", daemon=True)
            _remover.start()


def _remove_later() -> None:
    while True:
        group, left, deadline = _later.get()
        while left and time.monotonic() < deadline:
            time.sleep(0.01)
            left = group._retry(left)
        _later.task_done()


@atexit.register
def _drain() -> None:
    """At exit, the cgroups still being removed get their seconds (bounded), so none is left."""
    end = time.monotonic() + REMOVE_SECONDS
    while _later.unfinished_tasks and time.monotonic() < end:
        time.sleep(0.01)


def _rmdir(d: Path) -> bool:
    try:
        d.rmdir()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False
