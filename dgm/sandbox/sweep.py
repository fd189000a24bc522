"""Removing containers that outlived their run: by run id, or those of dead dgm processes; never a live one's."""

from __future__ import annotations

import os
import socket
from functools import lru_cache

from dgm.locks import process_alive, process_start


@lru_cache(maxsize=1)
def host_identity() -> str:
    """This host and PID namespace: a dgm.pid label is only meaningful where it was made."""
    try:
        ns = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        ns = 0
    return f"{socket.gethostname()}:{ns}"


def owner_state(labels: dict[str, str]) -> str:
    """Whose container this is: "self", "live" (another live process here), "dead", or "unknown"."""
    if labels.get("dgm.host") != host_identity():
        return "unknown"  # another host or PID namespace: its pid says nothing here
    try:
        pid = int(labels.get("dgm.pid", ""))
    except ValueError:
        return "unknown"
    start = labels.get("dgm.pidstart", "")
    if pid == os.getpid() and (not start or start == process_start(pid)):
        return "self"
    return "live" if process_alive(pid, start) else "dead"


def sweep(run_id: str | None = None, *, force: bool = False) -> int:
    """Remove dgm containers of RUN_ID that are ours or whose process is dead (None: every run's dead ones).

    Containers of another live process are never touched, even of the same run (a second start on a run
    directory must not pull a live run's sandboxes away); nor those whose owner cannot be judged from
    here (another host or PID namespace), which end at their own wall-time limit. `force` (an operator's
    explicit `prune --run --force`) removes every container of RUN_ID."""
    import docker

    from dgm.sandbox.backends import resolve_backend
    from dgm.sandbox.engine import connected_engines, engine_client

    # The engines this process used, and the chosen one (bubblewrap leaves nothing to sweep:
    # its sandboxes die with the process that started them).
    chosen = resolve_backend()
    engines = [e for e in ("docker", "podman") if e in connected_engines() or e == chosen]
    labels = ["dgm=1"] + ([f"dgm.run={run_id}"] if run_id is not None else [])
    removable = ("self", "dead") if run_id is not None else ("dead",)
    removed = 0
    for engine in engines:
        api = engine_client(engine).api
        for info in api.containers(all=True, filters={"label": labels}):
            if not (force and run_id is not None) and owner_state(info.get("Labels") or {}) not in removable:
                continue
            try:
                api.remove_container(info["Id"], force=True)
                removed += 1
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if "already in progress" not in str(exc) and "no such container" not in str(exc).lower():
                    raise
    return removed
