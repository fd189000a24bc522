"""The Sandbox: a hardened, offline, size- and time-limited container for untrusted code."""

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
from dgm.sandbox.engine import docker_client
from dgm.sandbox.execstream import STDOUT, Capture, ExecStream
from dgm.sandbox.hardening import Limits, hardened_host_config, sandbox_labels
from dgm.sandbox.sweep import sweep
from dgm.sandbox.transfer import extract_untrusted, tar_file, tar_tree

__all__ = ["Limits", "Mount", "ExecResult", "Sandbox", "UnreadableFile", "sweep"]

AGENT = "1000:1000"
RELAY_MOUNT = "/run/dgm"
SEED = "/opt/dgm/seed"
KILL_GRACE = 5.0  # seconds to drain output after the kill
# Read a file only if it is regular and not a link, and at most $2 bytes of it. Agent processes are
# all dead when the engine reads the agent's outputs, so nothing swaps the file between test and read.
_READ_REGULAR = (
    'f="$1"; if [ -L "$f" ]; then exit 4; elif [ ! -e "$f" ]; then exit 3; elif [ -d "$f" ]; then exit 5; '
    'elif [ -p "$f" ]; then exit 6; elif [ -c "$f" ] || [ -b "$f" ]; then exit 7; elif [ -S "$f" ]; then exit 8; '
    'elif [ ! -f "$f" ]; then exit 9; fi; exec head -c "$2" -- "$f"'
)
_NOT_REGULAR = {4: "a symbolic link", 5: "a directory", 6: "a FIFO", 7: "a device", 8: "a socket", 9: "not a file"}


@dataclass
class Mount:
    """A host directory bind-mounted into the sandbox (read-only unless said otherwise)."""

    host: Path
    container: str
    read_only: bool = True


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
_seeded: dict[str, bool] = {}  # image -> has /opt/dgm/seed content
_swept = False


@atexit.register
def _stop_live() -> None:
    for box in list(_live):
        box.stop()


class Sandbox:
    """A running container; a context manager that always removes it."""

    def __init__(self, container_id: str, name: str, limits: Limits, workdir: str) -> None:
        self.id = container_id
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
    ) -> "Sandbox":
        """Create and start a hardened container from IMAGE, labelled with RUN_ID."""
        global _swept
        import docker

        limits = limits or Limits()
        api = docker_client().api
        if not _swept:  # containers that an earlier, dead incarnation left behind
            _swept = True
            sweep(None)
        name = name or f"dgm-{re.sub(r'[^A-Za-z0-9_.-]', '_', run_id)[:80]}-{uuid.uuid4().hex[:8]}"
        environment = dict(env or {})
        binds: dict[str, dict[str, str]] = {}
        for m in [*mounts, *([Mount(Path(relay_dir), RELAY_MOUNT)] if relay_dir else [])]:
            host = Path(m.host).resolve()
            if not host.exists():
                raise SandboxError(f"mount source {host} does not exist")
            binds[str(host)] = {"bind": m.container, "mode": "ro" if m.read_only else "rw"}
        if relay_dir:
            environment["DGM_RELAY_SOCKET"] = f"{RELAY_MOUNT}/relay.sock"
        host_config = api.create_host_config(binds=binds, **hardened_host_config(limits))
        labels = sandbox_labels(run_id)
        # PID 1 (docker-init) and its `sleep` run as root without any capability: agent code
        # (uid 1000) can neither kill the lifetime keeper nor escape the wall-clock limit,
        # and a forgotten container exits, and is removed, by itself.
        created = None
        try:
            created = api.create_container(
                image,
                command=["sleep", str(int(limits.wall_seconds) + 1)],
                user="0:0",
                environment=environment,
                working_dir=workdir,
                labels=labels,
                host_config=host_config,
                name=name,
                network_disabled=True,
            )
            api.start(created["Id"])
        except docker.errors.APIError as exc:
            if created is not None:  # created but not started: auto-remove will not fire
                try:
                    api.remove_container(created["Id"], force=True)
                except docker.errors.APIError:
                    pass
            if isinstance(exc, docker.errors.ImageNotFound):
                raise SandboxError(f"image {image} not found", hint="run `dgm sandbox build`") from exc
            raise SandboxError(f"cannot start sandbox from {image}: {exc.explanation or exc}") from exc
        box = cls(created["Id"], name, limits, workdir)
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
        if _seeded.get(image) is False:
            return
        res = self.exec(["sh", "-c", copy], timeout=min(600.0, self.limits.wall_seconds))
        if not res.ok:
            raise SandboxError(f"copying the image's seed into the sandbox failed: {res.output[-500:]}")
        _seeded[image] = "seed=1" in res.output

    def stop(self) -> None:
        """Kill and remove the container (idempotent)."""
        if self.stopped:
            return
        self.stopped = True
        _live.discard(self)
        import docker

        try:
            docker_client().api.remove_container(self.id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise SandboxError(f"cannot remove sandbox {self.name}: {exc}") from exc

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

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
        if (user or AGENT) in (AGENT, "agent", "1000"):
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
            return self._run_locked(argv, capture, timeout=timeout, workdir=workdir, env=env,
                                    user=user, stdin=stdin)

    def _run_locked(
        self,
        argv: list[str],
        capture: Capture,
        *,
        timeout: float | None,
        workdir: str | None,
        env: Mapping[str, str] | None,
        user: str | None,
        stdin: bytes | None,
    ) -> tuple[int | None, bool, bool, float]:
        import docker

        if self.stopped:
            raise SandboxError(f"sandbox {self.name} was stopped")
        api = docker_client().api
        limit = self.limits.exec_seconds if timeout is None else timeout
        remaining = self.limits.wall_seconds - (time.monotonic() - self.started)
        limit = max(0.0, min(limit, remaining))
        started = time.monotonic()
        since = time.time()
        try:
            exec_id = api.exec_create(
                self.id, argv, stdout=True, stderr=True, stdin=stdin is not None, tty=False,
                environment=dict(env or {}), workdir=workdir or self.workdir, user=user or AGENT,
            )["Id"]
        except docker.errors.APIError as exc:
            raise SandboxError(
                f"sandbox {self.name} is not running (wall-clock limit of "
                f"{self.limits.wall_seconds:.0f} s reached, or killed): {exc.explanation or exc}"
            ) from exc
        stream = ExecStream(api, exec_id)
        try:
            if stdin is not None:
                stream.send_stdin(stdin, started + limit)
            finished = stream.pump(capture, started + limit)
            timed_out = not finished
            if timed_out:
                self._kill_processes(user or AGENT)
                stream.pump(capture, time.monotonic() + KILL_GRACE)
        finally:
            stream.close()
        info = self._exec_state(exec_id)
        code = None if info.get("Running") else info.get("ExitCode")
        oom = (code == 137 and not timed_out) and self._oom_since(since)
        return code, timed_out, oom, time.monotonic() - started

    def is_running(self) -> bool:
        """Whether the container still runs (False once the engine, a person or its lifetime stopped it)."""
        import docker

        if self.stopped:
            return False
        try:
            return bool(docker_client().api.inspect_container(self.id)["State"].get("Running"))
        except docker.errors.APIError:
            return False

    def _exec_state(self, exec_id: str) -> dict:
        import docker

        api = docker_client().api
        info: dict = {}
        for _ in range(50):  # the exit code lands a moment after the stream closes
            try:
                info = api.exec_inspect(exec_id)
            except docker.errors.APIError:  # the container is gone (lifetime over, stopped)
                return {"ExitCode": None, "Running": False}
            if not info.get("Running"):
                break
            time.sleep(0.02)
        return info

    def _kill_processes(self, user: str) -> None:
        """SIGKILL every process of USER in the sandbox (the timeout's teeth)."""
        import docker

        api = docker_client().api
        # kill(-1) as USER reaches all of USER's processes, also those that left the
        # process group or ignore SIGTERM; PID 1 and the root-owned sleep survive it
        # (a root command's timeout ends the whole sandbox, by design). Under a fork bomb
        # the kill itself may fail to start; then the container goes.
        for _ in range(3):
            try:
                kid = api.exec_create(self.id, ["kill", "-KILL", "--", "-1"], user=user)["Id"]
                api.exec_start(kid)
                if api.exec_inspect(kid).get("ExitCode") in (0, 1):  # 1: nothing left to kill
                    return
            except docker.errors.APIError:
                pass
            time.sleep(0.2)
        self.stop()

    def _oom_since(self, since: float) -> bool:
        """Whether the engine saw an OOM kill in this container since SINCE (epoch seconds)."""
        api = docker_client().api
        for attempt in range(3):  # the event can land a moment after the exec's stream closed
            events = api.events(since=f"{since:.9f}", until=f"{time.time():.9f}", decode=True,
                                filters={"container": self.id, "event": "oom"})
            if any(True for _ in events):
                return True
            time.sleep(0.1 * (attempt + 1))
        return False

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
