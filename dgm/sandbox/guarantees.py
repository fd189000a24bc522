"""Which hardening guarantees each backend holds on this machine, and why not where it does not.

Docker holds them all. Rootless Podman holds memory, process and CPU limits only where the
account may use cgroup v2 controllers (delegation); bubblewrap holds them where this process
may create cgroups (dgm.sandbox.cgroups: root, or a delegated v2 subtree), and limits with
rlimits instead where it may not. `dgm doctor`, docs/sandbox.md and the tests read this one table.
"""

from __future__ import annotations

import json
from functools import lru_cache

# Every backend holds these (the adversarial tests check each on each backend).
COMMON = ("no network", "all capabilities dropped", "no new privileges", "read-only root",
          "non-root user", "size-capped tmpfs work dirs", "deadline kills every agent process")


@lru_cache(maxsize=1)
def podman_cgroup_limits() -> bool:
    """Whether rootless Podman can set memory, pids and CPU limits (cgroup v2, controllers delegated)."""
    from dgm.sandbox.podman import podman_cli

    try:
        res = podman_cli("info", "--format", "json", timeout=60)
        host = json.loads(res.stdout)["host"]
    except Exception:  # noqa: BLE001 - no podman: no limits either
        return False
    controllers = set(host.get("cgroupControllers") or [])
    return host.get("cgroupVersion") == "v2" and {"memory", "pids", "cpu"} <= controllers


def weakened(backend: str) -> dict[str, str]:
    """Guarantee -> how BACKEND falls short of Docker's on this machine (empty: none)."""
    if backend == "podman" and not podman_cgroup_limits():
        why = ("not held: rootless Podman sets cgroup limits only on cgroup v2 with the memory, pids "
               "and cpu controllers delegated to the user")
        return {"memory limit": why, "CPU limit": why,
                "process limit": "RLIMIT_NPROC instead of a pids cgroup: counts the processes of "
                                 "uid 1000 in all Podman sandboxes of the account together"}
    if backend == "bwrap":
        from dgm.sandbox.cgroups import cgroup_parent

        parent = cgroup_parent()
        held = parent.controllers if parent is not None else set()
        out = {}
        if "memory" not in held:
            out["memory limit"] = ("per process (RLIMIT_AS), not per sandbox: an allocation over it "
                                   "fails (MemoryError, ENOMEM) instead of an OOM kill")
        if "cpu" not in held:
            out["CPU limit"] = "not held: without a cpu cgroup a bubblewrap sandbox may use every core"
        if "pids" not in held:
            out["process limit"] = "RLIMIT_NPROC in the sandbox's own user namespace"
        return out
    return {}
