"""The sandbox backends by name: which one a process uses, whether this machine has it, starting one.

docker (the default): the Docker engine. podman: rootless Podman through its Docker-compatible
API. bwrap: bubblewrap, daemonless, from an unpacked image directory. All three run as a
non-root user in the sandbox with the same hardening (see dgm.sandbox.guarantees for limits).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

from dgm.errors import BadInput, DgmError
from dgm.sandbox.runtime import Runtime, StartSpec

BACKENDS = ("docker", "podman", "bwrap")
ENV = "DGM_SANDBOX_BACKEND"
INSTALL = {
    "docker": "install Docker Engine (apt-get install docker.io) and start dockerd, or set DOCKER_HOST",
    "podman": "apt-get install podman crun uidmap catatonit fuse-overlayfs slirp4netns, and give the "
              "sandbox user subordinate ids (/etc/subuid, /etc/subgid)",
    "bwrap": "apt-get install bubblewrap, and allow unprivileged user namespaces "
             "(sysctl kernel.unprivileged_userns_clone=1)",
}


def use_backend(name: str) -> str:
    """Make NAME the backend of this process and of the processes it starts; returns it."""
    name = resolve_backend(name)
    os.environ[ENV] = name
    return name


def resolve_backend(name: str | None = None) -> str:
    """NAME, else $DGM_SANDBOX_BACKEND, else docker; a name not known is bad input."""
    name = name or os.environ.get(ENV) or "docker"
    if name not in BACKENDS:
        raise BadInput(f"unknown sandbox backend {name!r}", hint=f"use one of {', '.join(BACKENDS)}")
    return name


def missing(backend: str) -> str | None:
    """Why BACKEND cannot run on this machine (None: it can). Cached per process."""
    return _missing(backend)


@lru_cache(maxsize=None)
def _missing(backend: str) -> str | None:
    from dgm.sandbox.unprivileged import sandbox_account

    if backend == "docker":
        from dgm.sandbox.engine import docker_client

        try:
            docker_client()
        except DgmError as exc:
            return exc.message
        return None
    tools = {"podman": ("podman", "newuidmap", "crun"), "bwrap": ("bwrap",)}[backend]
    absent = [t for t in tools if shutil.which(t) is None]
    if absent:
        return f"{', '.join(absent)} not installed"
    account = sandbox_account()
    if account is None:
        return "no unprivileged user to run it as (DGM_SANDBOX_USER, default dgm-sandbox)"
    if backend == "podman":
        for table in ("/etc/subuid", "/etc/subgid"):
            try:
                entries = [ln.split(":")[0] for ln in open(table).read().splitlines()]
            except OSError:
                entries = []
            if account.name not in entries and str(account.uid) not in entries:
                return f"{account.name} has no subordinate ids in {table}"
        return None
    probe = subprocess.run(
        ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "true"],
        capture_output=True, text=True, env=account.env(), **account.popen_kwargs())
    if probe.returncode != 0:
        return f"bwrap cannot create namespaces as {account.name}: {probe.stderr.strip()[-300:]}"
    return None


def require_backend(backend: str) -> None:
    """A one-line error naming what to install when BACKEND cannot run here."""
    why = missing(backend)
    if why is not None:
        hint = INSTALL[backend]
        if "unprivileged user" in why:
            from dgm.sandbox.unprivileged import account_hint

            hint = account_hint()
        raise BadInput(f"sandbox backend {backend} is not available on this machine: {why}", hint=hint)


def start_runtime(backend: str, spec: StartSpec) -> Runtime:
    if backend == "bwrap":
        from dgm.sandbox.bwrap import BwrapRuntime

        return BwrapRuntime.start(spec)
    from dgm.sandbox.container import ContainerRuntime

    return ContainerRuntime.start(backend, spec)
