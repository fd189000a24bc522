"""Which executor a run uses: the local pool of dgm/evolve/workers.py, or Ray tasks (dgm/ray).

Apart from the pool so that the pool stays below Ray's code, which performs the same items.
"""

from __future__ import annotations

from typing import Any, Callable

from dgm.evolve.workers import Board, Executor, LocalExecutor, WorkContext


def check_executor(config: Any) -> None:
    """Before a run opens anything: Ray chosen but missing, or an address nobody answers, is bad input."""
    if config.evolve.executor == "ray":
        from dgm.ray.connect import check_reachable
        from dgm.ray.executor import require_ray

        require_ray()
        from dgm.sandbox.backends import resolve_backend

        if resolve_backend(config.sandbox.backend) != "docker":
            from dgm.errors import ConfigError

            raise ConfigError(f"evolve.executor = ray runs sandboxes on Docker hosts, not with sandbox.backend = "
                              f"{resolve_backend(config.sandbox.backend)}", hint="set sandbox.backend = docker")
        if config.evolve.ray_address:
            check_reachable(config.evolve.ray_address)


def make_executor(config: Any, context: WorkContext, board: Board, log: Callable[[str], None] = print) -> Executor:
    """The executor evolve.executor names: the local pool, or Ray tasks (diagnoses stay local there)."""
    local = LocalExecutor(config.evolve.workers, context, board)
    if config.evolve.executor != "ray":
        return local
    from dgm.ray.executor import RayExecutor, RaySettings, require_ray

    require_ray()
    e, box = config.evolve, config.limits.sandbox
    settings = RaySettings(e.ray_address, e.ray_cpus or box.cpus, e.ray_memory_mb or box.memory_mb,
                           e.ray_pending, e.ray_retries, e.ray_gate_host, e.ray_registry)
    try:
        return RayExecutor(settings, context, board, local=local, log=log)
    except BaseException:
        local.shutdown(wait=False)
        raise
