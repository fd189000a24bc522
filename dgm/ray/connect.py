"""Joining a Ray cluster as the driver: a named address is checked before anything is spent."""

from __future__ import annotations

import logging
import os
import socket

from dgm.errors import ConfigError

CONNECT_SECONDS = 5.0


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.strip().removeprefix("ray://").rpartition(":")
    try:
        return host or "127.0.0.1", int(port)
    except ValueError:
        raise ConfigError(f"evolve.ray_address = {address!r} is not HOST:PORT",
                          hint="give the head node's GCS address, e.g. 10.0.0.5:6379") from None


def check_reachable(address: str) -> None:
    """A TCP connect to the head's port; ConfigError naming the address when nothing answers."""
    host, port = _split(address)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_SECONDS):
            pass
    except OSError as exc:
        raise ConfigError(f"Ray cluster at {address} is unreachable ({exc.strerror or exc})",
                          hint="start it with `ray start --head`, or fix evolve.ray_address") from None


def connect(address: str) -> str:
    """ray.init against ADDRESS (or RAY_ADDRESS); the address joined."""
    import ray

    address = address or os.environ.get("RAY_ADDRESS", "")
    if address and address != "auto":
        check_reachable(address)
    if not ray.is_initialized():
        try:
            ray.init(address=address or None, log_to_driver=False, logging_level=logging.WARNING,
                     configure_logging=False, include_dashboard=False if not address else None)
        except Exception as exc:  # noqa: BLE001 - ray raises many kinds here
            raise ConfigError(f"cannot join the Ray cluster at {address or '(a new local one)'}: "
                              f"{str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__}",
                              hint="check evolve.ray_address and that the cluster runs the same Ray version") from None
    return address or "a new local Ray instance"


def slots_of(address: str) -> float:
    """Sandbox slots the cluster advertises; ConfigError when none (items would wait forever)."""
    import ray

    slots = float(ray.cluster_resources().get("sandbox_slot", 0))
    if slots <= 0:
        ray.shutdown()
        raise ConfigError(f"no node of the Ray cluster at {address or 'RAY_ADDRESS'} advertises sandbox slots",
                          hint="start each Docker host with ray start --resources='{\"sandbox_slot\": N}'")
    return slots
