"""The Sandbox: a hardened, offline, size- and time-limited place for untrusted code (any backend)."""

from __future__ import annotations

import atexit
import os
import re
import shlex
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from dgm.errors import AgentFailure, SandboxError
from dgm.sandbox.execstream import STDOUT, Capture
from dgm.sandbox.hardening import Limits
from dgm.sandbox.runtime import AGENT, KILL_GRACE, RELAY_MOUNT, Mount, Runtime, StartSpec
from dgm.sandbox.sweep import sweep
from dgm.sandbox.transfer import extract_untrusted, tar_file, tar_tree

__all__ = ["AGENT", "KILL_GRACE", "RELAY_MOUNT", "Limits", "Mount", "ExecResult", "Sandbox", "UnreadableFile", "sweep"]

SEED = "/opt/dgm/seed"
# Read a file only if it is regular and not a link, and at most $2 bytes of it. Agent processes are
# all dead when the engine reads the agent's outputs, so nothing swaps the file between test and read.
_READ_REGULAR = (
    'f="$1"; if [ -L "$f" ]; then exit 4; elif [ ! -e "$f" ]; then exit 3; elif [ -d "$f" ]; then exit 5; '
    'elif [ -p "$f" ]; then exit 6; elif [ -c "$f" ] || [ -b "$f" ]; then exit 7; elif [ -S "$f" ]; then exit 8; '
    'elif [ ! -f "$f" ]; then exit 9; fi; exec head -c "$2" -- "$f"'
)
_NOT_REGULAR = {4: "a symbolic link", 5: "a directory", 6: "a FIFO", 7: "a device", 8: "a socket", 9: "not a file"}


@dataclass
class ExecResult:
    """What one command in a sandbox did."""

    exit_code: int | None
    output: str
    truncated: bool
    timed_out: bool
    oom_killed: bool
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed

    def status(self) -> str:
        """One word for humans: ok, exit N, timed out, OOM killed."""
        if self.timed_out:
            return "timed out"
        if self.oom_killed:
            return "killed: out of memory"
        return "ok" if self.exit_code == 0 else f"exit {self.exit_code}"


class UnreadableFile(AgentFailure):
    """A file in the sandbox that is not read: not a regular file, over its cap, or too slow to read."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path} in the sandbox {what}")
        self.what = what  # "is a FIFO, not a regular file", "is larger than N bytes", ...


_live: "weakref.WeakSet[Sandbox]" = weakref.WeakSet()
_seeded: dict[str, bool] = {}  # "backend:image" -> has /opt/dgm/seed content
_swept = False


@atexit.register
def _stop_live() -> None:
    for box in list(_live):
        box.stop()


class Sandbox:
    """A running sandbox of some backend; a context manager that always removes it.

    The backend (dgm.sandbox.runtime.Runtime) owns the lifecycle and runs one command with a
    deadline; everything here (output caps, files, trees, diffs) is the same for every backend."""

    def __init__(self, runtime: Runtime, name: str, limits: Limits, workdir: str) -> None:
        self.runtime = runtime
        self.id = runtime.id
        self.backend = runtime.backend
        self.name = name
        self.limits = limits
        self.workdir = workdir
        self.started = time.monotonic()
        self.stopped = False
        self._lock = threading.RLock()

    # ---- lifecycle -------------------------------------------------------------------
    @classmethod
    def start(
        cls,
        image: str,
        *,
        run_id: str,
        limits: Limits | None = None,
        mounts: Sequence[Mount] = (),
        env: Mapping[str, str] | None = None,
        relay_dir: Path | None = None,
        workdir: str = "/testbed",
        name: str | None = None,
        backend: str | None = None,
    ) -> "Sandbox":
        """Start a hardened sandbox from IMAGE, labelled with RUN_ID, on BACKEND (default: the
        process's choice, see dgm.sandbox.backends)."""
        global _swept
        from dgm.sandbox.backends import require_backend, resolve_backend, start_runtime

        backend = resolve_backend(backend)
        require_backend(backend)
        limits = limits or Limits()
        if not _swept and backend == "docker":  # containers that an earlier, dead incarnation left behind
            _swept = True
            sweep(None)
        name = name or f"dgm-{re.sub(r'[^A-Za-z0-9_.-]', '_', run_id)[:80]}-{uuid.uuid4().hex[:8]}"
        environment = dict(env or {})
        all_mounts = [*mounts, *([Mount(Path(relay_dir), RELAY_MOUNT)] if relay_dir else [])]
        for m in all_mounts:
            if not Path(m.host).resolve().exists():
                raise SandboxError(f"mount source {Path(m.host).resolve()} does not exist")
        if relay_dir:
            environment["DGM_RELAY_SOCKET"] = f"{RELAY_MOUNT}/relay.sock"
        spec = StartSpec(image=image, run_id=run_id, name=name, limits=limits, workdir=workdir,
                         mounts=all_mounts, env=environment)
        box = cls(start_runtime(backend, spec), name, limits, workdir)
        _live.add(box)
        try:
            box._plant_seed(image)
        except BaseException:
            box.stop()
            raise
        return box

    def _plant_seed(self, image: str) -> None:
        # Convention with image recipes: a prepared repository (and home) under /opt/dgm/seed
        # is copied into the fresh tmpfs so every sandbox starts from the image's state.
        copy = (
            f"for d in testbed home; do [ -d {SEED}/$d ] && found=1; done; "
            f"if [ -d {SEED}/testbed ]; then cp -a {SEED}/testbed/. /testbed/ || exit 3; fi; "
            f"if [ -d {SEED}/home ]; then cp -a {SEED}/home/. /home/agent/ || exit 3; fi; "
            'echo "seed=${found:-0}"'
        )
        key = f"{self.backend}:{image}"
        if _seeded.get(key) is False:
            return
        res = self.exec(["sh", "-c", copy], timeout=min(600.0, self.limits.wall_seconds))
        if not res.ok:
            raise SandboxError(f"copying the image's seed into the sandbox failed: {res.output[-500:]}")
        _seeded[key] = "seed=1" in res.output

    def stop(self) -> None:
        """Kill and remove the sandbox (idempotent)."""
        if self.stopped:
            return
        self.stopped = True
        _live.discard(self)
        self.runtime.stop()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def is_running(self) -> bool:
        """Whether the sandbox still runs (False once the engine, a person or its lifetime stopped it)."""
        return not self.stopped and self.runtime.alive()

    # ---- commands --------------------------------------------------------------------
    def exec(
        self,
        cmd: str | Sequence[str],
        *,
        timeout: float | None = None,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
    ) -> ExecResult:
        """Run CMD (a str runs under `bash -lc`) with a timeout that really fires."""
        argv = ["bash", "-lc", cmd] if isinstance(cmd, str) else list(cmd)
        if (user or AGENT) in (AGENT, "agent", "1000") and not self.runtime.ends_leftovers:
            # When the command ends, whatever it left running (a daemon, a fork bomb) dies
            # with it: kill(-1) from the wrapper reaches every agent process but itself.
            argv = ["sh", "-c", '"$@"; rc=$?; kill -KILL -1 2>/dev/null; exit $rc', "sh", *argv]
        capture = Capture(self.limits.output_bytes)
        code, timed_out, oom, seconds = self._run(argv, capture, timeout=timeout, workdir=workdir,
                                                  env=env, user=user)
        return ExecResult(code, capture.data.decode("utf-8", "replace"), capture.truncated,
                          timed_out, oom, seconds)

    def _run(
        self,
        argv: list[str],
        capture: Capture,
        *,
        timeout: float | None = None,
        workdir: str | None = None,
        env: Mapping[str, str] | None = None,
        user: str | None = None,
        stdin: bytes | None = None,
    ) -> tuple[int | None, bool, bool, float]:
        with self._lock:  # execs are serialized: a finished exec kills all agent processes
            if self.stopped:
                raise SandboxError(f"sandbox {self.name} was stopped")
            limit = self.limits.exec_seconds if timeout is None else timeout
            remaining = self.limits.wall_seconds - (time.monotonic() - self.started)
            started = time.monotonic()
            out = self.runtime.run(argv, capture, deadline=started + max(0.0, min(limit, remaining)),
                                   workdir=workdir or self.workdir, env=dict(env or {}),
                                   user=user or AGENT, stdin=stdin)
            return out.exit_code, out.timed_out, out.oom_killed, time.monotonic() - started

    # ---- files -----------------------------------------------------------------------
    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write DATA to PATH in the sandbox, owned by the agent user."""
        parent, name = os.path.split(path)
        self._untar(tar_file(name, data, mode), parent or self.workdir)

    def put_tree(self, host_dir: Path, container_dir: str) -> None:
        """Copy HOST_DIR's contents into CONTAINER_DIR (created if missing)."""
        self._untar(tar_tree(Path(host_dir)), container_dir)

    def _untar(self, archive: bytes, container_dir: str) -> None:
        capture = Capture(64_000)
        script = f"mkdir -p -- {shlex.quote(container_dir)} && tar -x --no-same-owner -m -f - -C {shlex.quote(container_dir)}"
        code, timed_out, _, _ = self._run(["sh", "-c", script], capture, stdin=archive,
                                          timeout=max(60.0, len(archive) / 5e6))
        if code != 0 or timed_out:
            raise SandboxError(f"copying into {container_dir} failed: {capture.data.decode(errors='replace')[-500:]}")

    def get_file(self, path: str, max_bytes: int = 50_000_000, *, timeout: float = 120) -> bytes:
        """The bytes of PATH in the sandbox if it is a regular file (FileNotFoundError if missing).

        A link, FIFO, device, socket or directory is refused (AgentFailure) before a byte is read,
        and no more than MAX_BYTES + 1 bytes are read: /dev/zero or a FIFO cannot stall the host."""
        capture = Capture(max_bytes + 1, streams=(STDOUT,))
        code, timed_out, _, _ = self._run(["sh", "-c", _READ_REGULAR, "sh", path, str(max_bytes + 1)], capture,
                                          timeout=timeout)
        if timed_out:
            raise UnreadableFile(path, f"cannot be read in {timeout:.0f} s")
        if code == 3:
            raise FileNotFoundError(f"{path} in sandbox {self.name}: no such file")
        if code in _NOT_REGULAR:
            raise UnreadableFile(path, f"is {_NOT_REGULAR[code]}, not a regular file")
        if code != 0:
            raise FileNotFoundError(f"{path} in sandbox {self.name}: {capture.stderr_tail.decode(errors='replace').strip()}")
        if len(capture.data) > max_bytes:
            raise UnreadableFile(path, f"is larger than {max_bytes} bytes")
        return bytes(capture.data)

    def get_tree(self, container_dir: str, host_dir: Path, max_bytes: int = 200_000_000) -> None:
        """Copy CONTAINER_DIR out to HOST_DIR: regular files and dirs only, no links, capped."""
        # Tar headers and padding add to the payload; allow for them before parsing.
        capture = Capture(max_bytes + max_bytes // 4 + (1 << 20), streams=(STDOUT,))
        code, timed_out, _, _ = self._run(["tar", "-c", "-f", "-", "-C", container_dir, "."],
                                          capture, timeout=600)
        if code != 0 or timed_out:
            raise FileNotFoundError(f"{container_dir} in sandbox {self.name}: {capture.stderr_tail.decode(errors='replace').strip()}")
        if capture.truncated:
            raise AgentFailure(f"{container_dir} in the sandbox is larger than {max_bytes} bytes")
        with tempfile.SpooledTemporaryFile(max_size=64 << 20) as spool:
            spool.write(capture.data)
            del capture
            spool.seek(0)
            extract_untrusted(spool, Path(host_dir), max_bytes)  # type: ignore[arg-type]

    def git_diff(self, workdir: str = "/testbed", base: str = "HEAD", *, max_bytes: int = 20_000_000) -> str:
        """`git diff --binary BASE` of WORKDIR including untracked files, computed inside."""
        # A throwaway index seeded from BASE: untracked files are added without touching
        # the repository's own index.
        script = (
            'idx=$(mktemp) && export GIT_INDEX_FILE="$idx" && '
            f"git read-tree {shlex.quote(base)} && git add -A . && "
            f"git -c core.quotepath=off diff --cached --binary --no-color --no-ext-diff --no-textconv {shlex.quote(base)} --; "
            'rc=$?; rm -f "$idx"; exit $rc'
        )
        capture = Capture(max_bytes, streams=(STDOUT,))
        code, timed_out, _, _ = self._run(["bash", "-c", script], capture, workdir=workdir, timeout=300)
        if timed_out or code != 0:
            raise AgentFailure(f"git diff in {workdir} failed: {capture.stderr_tail.decode(errors='replace').strip()[-500:]}")
        if capture.truncated:
            raise AgentFailure(f"the diff of {workdir} is larger than {max_bytes} bytes")
        return capture.data.decode("utf-8", "replace")
