"""Removing containers that outlived their run: by run id, or those of dead dgm processes."""

from __future__ import annotations

import os
import socket
from functools import lru_cache

from dgm.sandbox.engine import docker_client


@lru_cache(maxsize=1)
def host_identity() -> str:
    """This host and PID namespace: a dgm.pid label is only meaningful where it was made."""
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        ns = 0
    return f"{socket.gethostname()}:{ns}"


def process_start(pid: int) -> str:
    """The kernel's start time of PID (tells a live process from a reused pid); '' if gone."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def _process_alive(pid: int, start: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return not start or process_start(pid) == start


def sweep(run_id: str | None = None) -> int:
    """Remove dgm containers of RUN_ID, or (None) those whose host process is dead; a count."""
    import docker

    api = docker_client().api
    labels = ["dgm=1"] + ([f"dgm.run={run_id}"] if run_id is not None else [])
    removed = 0
    for info in api.containers(all=True, filters={"label": labels}):
        meta = info.get("Labels") or {}
        if run_id is None:
            # Never judge containers of another host/namespace or of a live process:
            # other runs share this engine.
            if meta.get("dgm.host") != host_identity():
                continue
            try:
                pid = int(meta.get("dgm.pid", ""))
            except ValueError:
                continue
            if _process_alive(pid, meta.get("dgm.pidstart", "")):
                continue
        try:
            api.remove_container(info["Id"], force=True)
            removed += 1
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise
    return removed
