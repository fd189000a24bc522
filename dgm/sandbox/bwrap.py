"""The bubblewrap backend: a daemonless sandbox from an unpacked image, run as the unprivileged account.

New user, PID, network, IPC and UTS namespaces (and cgroup where the kernel allows), no
capabilities, no new privileges, no further user namespaces, a seccomp filter; the image's
directories bound read-only (through a portal when the account cannot reach them),
size-capped tmpfs work directories, rlimits. PID 1 inside is dgm.sandbox.supervisor; the whole
process group is killed at the wall-clock limit, and with the dgm process that started it.
"""

from __future__ import annotations

import os
import shlex
import shutil
import select
import signal
import struct
import subprocess
import tempfile
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from dgm.errors import SandboxError
from dgm.sandbox.cgroups import SandboxCgroup, cgroup_parent
from dgm.sandbox.execstream import Capture, parse_frames
from dgm.sandbox.runtime import KILL_GRACE, WORK_DIRS, RunOutcome, Runtime, StartSpec
from dgm.sandbox.seccomp import compile_filter
from dgm.sandbox.supervisor import SCRIPT, encode_limits, encode_request
from dgm.sandbox.unprivileged import Account, account_hint, sandbox_account

EXIT, READY = 3, 4
START_SECONDS = 30.0
SHM_MB = 64
_SKIP = {"proc", "dev", "sys"}  # provided fresh by bubblewrap
_DEFAULT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": "/home/agent", "USER": "agent", "LOGNAME": "agent", "HOSTNAME": "sandbox"}


def _pipe_with(data: bytes) -> int:
    """A read end that yields DATA (written whole: the filter is far below the pipe's buffer)."""
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return r


@lru_cache(maxsize=32)
def _top_level(root: str) -> tuple[tuple[str, str | None], ...]:
    """(name, symlink target or None) of each top-level entry of an unpacked image that is bound
    into the sandbox. An unpacked image never changes (a rebuilt image is a new directory), so
    this is read once per process, not at every start."""
    skip = _SKIP | {p.strip("/").split("/")[0] for p in WORK_DIRS}
    return tuple((e.name, os.readlink(e) if e.is_symlink() else None)
                 for e in sorted(Path(root).iterdir()) if e.name not in skip)


def _has_mount_point(root: Path, target: str) -> bool:
    """Whether the unpacked image has a directory at TARGET, no link on the way."""
    path = root
    for part in Path(target).relative_to("/").parts:
        path = path / part
        if part in ("..", ".") or path.is_symlink():
            return False
    return path.is_dir()


@lru_cache(maxsize=8)
def _account_env(account: Account) -> dict[str, str]:
    """The environment bubblewrap (or the portal) starts with: the account's (bubblewrap clears it
    for the sandbox), without a runtime directory, which bubblewrap does not use."""
    return {"HOME": account.home, "USER": account.name, "LOGNAME": account.name,
            "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}


class Portal:
    """How the sandbox account reaches host paths it may not traverse (DGM_HOME under /root, a
    private temporary directory): run as root, each is bind-mounted onto an empty directory of a
    0755 portal in a mount namespace of bubblewrap's own, and bubblewrap starts there after
    dropping to the account. Run as the account itself, paths are used as they are."""

    def __init__(self, account: "Account") -> None:
        self.account = account
        self.binds: list[tuple[Path, Path]] = []
        self.dir: Path | None = None
        if not account.is_self:
            self.dir = Path(tempfile.mkdtemp(prefix="dgm-portal-"))
            self.dir.chmod(0o755)

    def add(self, source: Path) -> str:
        if self.dir is None:
            return str(source)
        target = self.dir / str(len(self.binds))
        if source.is_dir():
            target.mkdir()
        else:
            target.touch()
        self.binds.append((source, target))
        return str(target)

    def wrap(self, argv: list[str], cgroup_procs: list[str]) -> list[str]:
        """ARGV started through the portal, first moved into the cgroups whose cgroup.procs files
        are CGROUP_PROCS (so bubblewrap and all it starts are in them from their first instant)."""
        enter = [f"echo $$ > {shlex.quote(f)}" for f in cgroup_procs]
        if self.dir is None:
            return ["sh", "-c", " && ".join([*enter, 'exec "$@"']), "sh", *argv] if enter else argv
        a = self.account
        mounts = [f"mount --bind {shlex.quote(str(s))} {shlex.quote(str(t))}" for s, t in self.binds]
        # The environment is the account's already (Popen's env): no `env -i` step.
        drop = ["setpriv", f"--reuid={a.uid}", f"--regid={a.gid}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all"]
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                " && ".join([*enter, *mounts, 'exec "$@"']), "sh", *drop, *argv]

    def remove(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


class BwrapRuntime(Runtime):
    backend = "bwrap"
    ends_leftovers = True  # the supervisor kills them (one shell less per command)

    def __init__(self, proc: subprocess.Popen, spec: StartSpec, env: dict[str, str]) -> None:
        self.proc = proc
        self.id = f"bwrap-{proc.pid}"
        self.spec = spec
        self.env = env
        self.pending = b""
        self.stopped = False
        self.portal: Portal | None = None
        self.cgroup: SandboxCgroup | None = None
        self.in_use: int | None = None  # the shared lock that keeps prune from the image
        self._timer = threading.Timer(spec.limits.wall_seconds + 1, self.stop)
        self._timer.daemon = True
        self._timer.start()

    @classmethod
    def start(cls, spec: StartSpec) -> "BwrapRuntime":
        from dgm.sandbox.unpack import unpacked_image

        account = sandbox_account()
        if account is None:
            raise SandboxError("no unprivileged account for bubblewrap", hint=account_hint())
        root, meta, in_use = unpacked_image(spec.image)
        lock = [in_use]  # the started sandbox takes it over (its stop closes it); else closed here
        try:
            return cls._start(spec, account, root, meta, lock)
        finally:
            for fd in lock:
                os.close(fd)

    @classmethod
    def _start(cls, spec: StartSpec, account: Account, root: Path, meta: dict, lock: list[int]) -> "BwrapRuntime":
        portal = Portal(account)
        lim = spec.limits
        argv = ["bwrap", "--unshare-user", "--uid", "1000", "--gid", "1000", "--unshare-pid",
                "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--hostname", "sandbox", "--disable-userns", "--die-with-parent", "--new-session",
                "--as-pid-1", "--cap-drop", "ALL", "--clearenv"]
        top = portal.add(root)
        if all(_has_mount_point(root, m.container) for m in spec.mounts):
            # The image's root bound once (bubblewrap remounts each read-only bind after reading
            # the mount table: one bind, not one per top-level entry, ~3 ms less per start).
            argv += ["--ro-bind", top, "/"]
        else:  # a mount point the image lacks is made in bubblewrap's own root, among the entries
            for name, link in _top_level(str(root)):
                if link is not None:
                    argv += ["--symlink", link, f"/{name}"]
                else:
                    argv += ["--ro-bind", f"{top}/{name}", f"/{name}"]
        # bubblewrap's /dev is a tmpfs without a size: a size-capped /dev/shm (Docker's 64 MiB) on
        # it, and /dev itself read-only below.
        argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--size", str(SHM_MB << 20),
                 "--tmpfs", "/dev/shm"]
        sizes = {"/testbed": lim.disk_mb}
        for path in WORK_DIRS:
            argv += ["--perms", "1777" if path == "/tmp" else "0755",
                     "--size", str(sizes.get(path, lim.tmp_mb) << 20), "--tmpfs", path]
        for m in spec.mounts:
            argv += ["--ro-bind" if m.read_only else "--bind", portal.add(Path(m.host).resolve()), m.container]
        argv += ["--remount-ro", "/dev", "--remount-ro", "/"]
        seccomp = _pipe_with(compile_filter())
        argv += ["--seccomp", str(seccomp), "--chdir", "/"]
        parent = cgroup_parent()
        cgroup = SandboxCgroup(parent, spec.name, lim) if parent is not None else None
        rlimits = {"RLIMIT_NPROC": lim.pids, "RLIMIT_CORE": 0}
        if cgroup is None or "memory" not in cgroup.dirs:  # else the cgroup holds memory, as Docker's
            rlimits["RLIMIT_AS"] = lim.memory_mb << 20
        argv += ["--", "/usr/bin/python3", "-I", "-S", "-c", SCRIPT, *encode_limits(rlimits)]
        env = dict(_DEFAULT_ENV)
        env.update(kv.split("=", 1) for kv in meta["env"] if "=" in kv)
        env.update(spec.env)
        try:
            proc = subprocess.Popen(portal.wrap(argv, cgroup.procs_files if cgroup else []),
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    pass_fds=[seccomp], start_new_session=True, env=_account_env(account),
                                    cwd="/")
        except BaseException:
            portal.remove()
            if cgroup is not None:
                cgroup.remove()
            raise
        finally:
            os.close(seccomp)
        box = cls(proc, spec, env)
        box.portal = portal
        box.cgroup = cgroup
        box.in_use = lock.pop()
        try:
            capture = Capture(4096)
            if box._pump(capture, time.monotonic() + START_SECONDS, until=READY) is None:
                raise SandboxError(f"bubblewrap sandbox of {spec.image} did not start: {box._stderr()}")
        except BaseException:
            box.stop()
            raise
        return box

    def _stderr(self) -> str:
        self.stop()
        assert self.proc.stderr is not None
        return self.proc.stderr.read(4000).decode(errors="replace").strip() or f"exit {self.proc.returncode}"

    def _pump(self, capture: Capture, deadline: float, until: int = EXIT) -> bytes | None:
        """Read frames into CAPTURE until a frame of stream UNTIL (its payload) or DEADLINE (None)."""
        assert self.proc.stdout is not None
        out = self.proc.stdout.fileno()
        found: list[bytes] = []

        def feed(stream: int, data: bytes) -> None:
            if stream == until:
                found.append(data)
            elif stream in (1, 2) and not found:
                capture.feed(stream, data)

        while True:
            self.pending = parse_frames(self.pending, feed)
            if found:
                return found[0]
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([out], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(out, 1 << 20)
                if not chunk:
                    return None  # the sandbox is gone
                self.pending += chunk

    def run(self, argv: list[str], capture: Capture, *, deadline: float, workdir: str,
            env: Mapping[str, str], user: str, stdin: bytes | None) -> RunOutcome:
        # Every process in a bubblewrap sandbox is uid 1000: USER has nothing to choose.
        if not self.alive():
            raise SandboxError(f"sandbox {self.spec.name} is not running (wall-clock limit of "
                               f"{self.spec.limits.wall_seconds:.0f} s reached, or killed)")
        try:
            request = encode_request(argv, {**self.env, **env}, workdir, len(stdin or b""))
        except ValueError as exc:
            raise SandboxError(f"cannot run {argv[:1]} in sandbox {self.spec.name}: {exc}") from exc
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(b"R" + struct.pack(">I", len(request)) + request + (stdin or b""))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise SandboxError(f"sandbox {self.spec.name} is not running: {exc}") from exc
        ooms = self.cgroup.oom_kills() if self.cgroup is not None else 0
        end = self._pump(capture, deadline)
        timed_out = end is None and self.alive()
        if timed_out:
            try:
                self.proc.stdin.write(b"K")
                self.proc.stdin.flush()
            except OSError:
                pass
            end = self._pump(capture, time.monotonic() + KILL_GRACE)
            if end is None:  # the supervisor did not answer: the whole sandbox goes
                self.stop()
        code = int(end) if end is not None else None
        oom = self.cgroup is not None and self.cgroup.oom_kills() > ooms
        return RunOutcome(code, timed_out, oom)

    def alive(self) -> bool:
        return not self.stopped and self.proc.poll() is None

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self._timer.cancel()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # bwrap and, with PID 1, everything inside
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.cgroup is not None:  # anything that outlived PID 1 for a moment, then the cgroup
            self.cgroup.remove()
        if self.portal is not None:
            self.portal.remove()
        if self.in_use is not None:
            os.close(self.in_use)
            self.in_use = None
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
