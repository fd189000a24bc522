"""The container backends: Docker, and rootless Podman through its Docker-compatible API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

from dgm.errors import SandboxError
from dgm.sandbox.engine import engine_client, engine_socket
from dgm.sandbox.execstream import Capture, ExecStream
from dgm.sandbox.hardening import hardened_host_config, sandbox_labels
from dgm.sandbox.runtime import KILL_GRACE, RunOutcome, Runtime, StartSpec


_KEEPER = """
import ctypes, os, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_DFL)
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: its /proc entries out of the agent's reach
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    signal.sigtimedwait([signal.SIGCHLD], max(0.01, min(5.0, end - time.monotonic())))
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
"""


class ContainerRuntime(Runtime):
    """A running container of ENGINE; PID 1 (the engine's init) and its `sleep` keep it alive."""

    def __init__(self, engine: str, container_id: str, spec: StartSpec) -> None:
        self.backend = engine
        self.id = container_id
        self.spec = spec
        self.stopped = False

    @property
    def api(self):  # noqa: ANN201 - docker.APIClient
        return engine_client(self.backend).api

    @classmethod
    def start(cls, engine: str, spec: StartSpec) -> "ContainerRuntime":
        import docker

        api = engine_client(engine).api
        if engine == "podman":
            from dgm.sandbox.podman import ensure_podman_image

            ensure_podman_image(spec.image)
        binds: list[str] = []  # a list, not a dict by host path: one directory may be mounted twice
        if engine == "podman":
            from dgm.sandbox.podman import check_reachable

            check_reachable([Path(m.host).resolve() for m in spec.mounts])
        for m in spec.mounts:
            binds.append(f"{Path(m.host).resolve()}:{m.container}:{'ro' if m.read_only else 'rw'}")
        host_config = api.create_host_config(binds=binds, **hardened_host_config(spec.limits, engine))
        # PID 1 (the engine's init) and its `sleep` run as root without any capability: agent code
        # (uid 1000) can neither kill the lifetime keeper nor escape the wall-clock limit,
        # and a forgotten container exits, and is removed, by itself. Under rootless Podman
        # everything runs as uid 1000 (its tmpfs can be owned only by the container's user), so
        # the keeper is PID 1 itself, which no signal from inside reaches: a python loop that
        # reaps orphans as they exit and ends at the wall-clock limit.
        created = None
        try:
            created = api.create_container(
                spec.image, command=(["python3", "-I", "-c", _KEEPER, str(int(spec.limits.wall_seconds) + 1)]
                         if engine == "podman" else ["sleep", str(int(spec.limits.wall_seconds) + 1)]),
                user="1000:1000" if engine == "podman" else "0:0",
                environment=dict(spec.env), working_dir=spec.workdir, labels=sandbox_labels(spec.run_id),
                host_config=host_config, name=spec.name, network_disabled=True,
            )
            api.start(created["Id"])
        except docker.errors.APIError as exc:
            if created is not None:  # created but not started: auto-remove will not fire
                try:
                    api.remove_container(created["Id"], force=True)
                except docker.errors.APIError:
                    pass
            if isinstance(exc, docker.errors.ImageNotFound):
                raise SandboxError(f"image {spec.image} not found", hint="run `dgm sandbox build`") from exc
            raise SandboxError(f"cannot start sandbox from {spec.image}: {exc.explanation or exc}") from exc
        return cls(engine, created["Id"], spec)

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        import docker

        try:
            self.api.remove_container(self.id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc) and "no such container" not in str(exc).lower():
                raise SandboxError(f"cannot remove sandbox {self.spec.name}: {exc}") from exc

    def alive(self) -> bool:
        import docker

        if self.stopped:
            return False
        try:
            return bool(self.api.inspect_container(self.id)["State"].get("Running"))
        except docker.errors.APIError:
            return False

    def run(self, argv: list[str], capture: Capture, *, deadline: float, workdir: str,
            env: Mapping[str, str], user: str, stdin: bytes | None) -> RunOutcome:
        import docker

        api = self.api
        since = time.time()
        if self.backend == "podman":
            # Podman's exec sessions do not inherit the container's rlimits: set them per exec.
            pids = self.spec.limits.pids
            argv = ["prlimit", f"--nproc={pids}:{pids}", "--core=0:0", "--", *argv]
        try:
            exec_id = api.exec_create(
                self.id, argv, stdout=True, stderr=True, stdin=stdin is not None, tty=False,
                environment=dict(env), workdir=workdir, user=user,
            )["Id"]
        except docker.errors.APIError as exc:
            raise SandboxError(
                f"sandbox {self.spec.name} is not running (wall-clock limit of "
                f"{self.spec.limits.wall_seconds:.0f} s reached, or killed): {exc.explanation or exc}"
            ) from exc
        stream = ExecStream(api, exec_id, engine_socket(self.backend))
        try:
            if stdin is not None:
                stream.send_stdin(stdin, deadline)
            timed_out = not stream.pump(capture, deadline)
            if timed_out:
                self._kill_processes(user)
                stream.pump(capture, time.monotonic() + KILL_GRACE)
        finally:
            stream.close()
        info = self._exec_state(exec_id)
        code = None if info.get("Running") else info.get("ExitCode")
        oom = (code == 137 and not timed_out) and self._oom_since(since)
        return RunOutcome(code, timed_out, oom)

    def _exec_state(self, exec_id: str) -> dict:
        import docker

        info: dict = {}
        for _ in range(50):  # the exit code lands a moment after the stream closes
            try:
                info = self.api.exec_inspect(exec_id)
            except docker.errors.APIError:  # the container is gone (lifetime over, stopped)
                return {"ExitCode": None, "Running": False}
            if not info.get("Running"):
                break
            time.sleep(0.02)
        return info

    def _kill_processes(self, user: str) -> None:
        """SIGKILL every process of USER in the sandbox (the timeout's teeth)."""
        import docker

        # kill(-1) as USER reaches all of USER's processes, also those that left the
        # process group or ignore SIGTERM; PID 1 and the root-owned sleep survive it
        # (a root command's timeout ends the whole sandbox, by design). Under a fork bomb
        # the kill itself may fail to start; then the container goes.
        for _ in range(3):
            try:
                kid = self.api.exec_create(self.id, ["kill", "-KILL", "--", "-1"], user=user)["Id"]
                self.api.exec_start(kid)
                if self.api.exec_inspect(kid).get("ExitCode") in (0, 1):  # 1: nothing left to kill
                    return
            except docker.errors.APIError:
                pass
            time.sleep(0.2)
        self.stop()

    def _oom_since(self, since: float) -> bool:
        """Whether the engine saw an OOM kill in this container since SINCE (epoch seconds)."""
        import docker

        for attempt in range(3):  # the event can land a moment after the exec's stream closed
            try:
                events = self.api.events(since=f"{since:.9f}", until=f"{time.time():.9f}", decode=True,
                                         filters={"container": self.id, "event": "oom"})
                if any(True for _ in events):
                    return True
            except docker.errors.APIError:
                return False
            time.sleep(0.1 * (attempt + 1))
        return False
