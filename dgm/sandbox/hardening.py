"""What makes a sandbox container hardened: its limits, host configuration and labels."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from dgm.sandbox.sweep import host_identity, process_start


@dataclass
class Limits:
    """Resource limits of one sandbox; every one is configurable."""

    memory_mb: int = 2048
    pids: int = 512
    cpus: float = 1.0
    wall_seconds: float = 1800  # whole sandbox lifetime
    exec_seconds: float = 600  # default per-exec timeout
    output_bytes: int = 1_000_000  # cap per exec (the rest is dropped, marked truncated)
    tmp_mb: int = 512
    disk_mb: int = 2048


def hardened_host_config(limits: Limits, engine: str = "docker") -> dict[str, Any]:
    """Keyword arguments for the engine's host config: offline, capless, read-only, capped.

    Rootless Podman gets the same settings; where its user may not use the cgroup controllers
    (cgroup v1, or v2 without delegation) the limits are not set there, and the process limit
    falls back to RLIMIT_NPROC (`dgm doctor` says which hold)."""
    import docker

    owned = "uid=1000,gid=1000,mode=0755"
    config: dict[str, Any] = dict(
        network_mode="none",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        read_only=True,
        mem_limit=f"{limits.memory_mb}m",
        memswap_limit=f"{limits.memory_mb}m",
        pids_limit=limits.pids,
        nano_cpus=int(limits.cpus * 1e9),
        init=True,
        auto_remove=True,
        # The only writable places; tmpfs sizes are the disk limits.
        tmpfs={
            "/testbed": f"size={limits.disk_mb}m,{owned},exec",
            "/tmp": f"size={limits.tmp_mb}m,mode=1777,exec",
            "/home/agent": f"size={limits.tmp_mb}m,{owned},exec",
            "/io": f"size={limits.tmp_mb}m,{owned}",
            "/io/out": f"size={limits.tmp_mb}m,{owned}",
        },
        ulimits=[docker.types.Ulimit(name="core", soft=0, hard=0)],
    )
    if engine == "podman":
        from dgm.sandbox.guarantees import podman_cgroup_limits
        from dgm.sandbox.podman import seccomp_profile_path

        # Podman's default profile allows new user namespaces and ptrace; dgm's denies them.
        config["security_opt"] = [*config["security_opt"], f"seccomp={seccomp_profile_path()}"]

        config["ulimits"].append(docker.types.Ulimit(name="nproc", soft=limits.pids, hard=limits.pids))
        if not podman_cgroup_limits():
            for key in ("mem_limit", "memswap_limit", "pids_limit", "nano_cpus"):
                del config[key]
        config["init"] = False  # the keeper is PID 1 (see dgm.sandbox.container)
        # Podman's tmpfs takes no uid=: "U" gives it to the container's user, uid 1000 there.
        config["tmpfs"] = {path: opts.replace(owned, "mode=0755,U") for path, opts in config["tmpfs"].items()}
        # With a read-only root Podman adds a writable /var/tmp of its own; keep it read-only.
        config["tmpfs"]["/var/tmp"] = "ro,size=64k,mode=0755"
    return config


def sandbox_labels(run_id: str) -> dict[str, str]:
    """Labels that let `sweep` find a container by run, and judge whether its owner is alive."""
    return {
        "dgm": "1",
        "dgm.run": run_id,
        "dgm.pid": str(os.getpid()),
        "dgm.pidstart": process_start(os.getpid()),
        "dgm.host": host_identity(),
    }
