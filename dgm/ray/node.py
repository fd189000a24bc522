"""What a worker node holds for a run: its relay forwarder, its images, its sweep of dead containers.

Made once per Ray worker process and reused by every item it runs. The stand-in relay given to the
engine's runners holds one token the driver issued for the item; the driver keeps the ledger.
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dgm.ray.forwarder import NodeRelay
from dgm.ray.images import ImageRecipe, ensure_recipe

_lock = threading.Lock()
_nodes: dict[tuple, "NodeState"] = {}


class NodeRefused(RuntimeError):
    """This node cannot run sandboxes (no working Docker engine): the item goes elsewhere."""


@dataclass
class _Settings:
    model: str


@dataclass
class _Usage:
    def to_dict(self) -> dict:
        # Zero on purpose: the driver recomputes the item's usage from its own ledger.
        return {"prompt_tokens": 0, "completion_tokens": 0, "usd": 0.0, "calls": 0}


class _Ledger:
    def usage(self, account: str | None = None) -> _Usage:
        return _Usage()


@dataclass
class _Gateway:
    model: str
    ledger: _Ledger = field(default_factory=_Ledger)

    def settings_for(self, role: str) -> _Settings:
        return _Settings(self.model)


class TicketRelay:
    """What run_agent needs of a relay: a socket directory and the one token the driver issued."""

    def __init__(self, node: NodeRelay, token: str, model: str) -> None:
        self.socket_dir = node.socket_dir
        self.gateway = _Gateway(model)
        self._token = token

    def issue_token(self, account: Any, **_: Any) -> str:
        # The driver chose the account, role, budget and recording when it issued the ticket; what the
        # runner asks for here changes none of them.
        return self._token

    def revoke(self, token: str) -> None:
        pass  # the driver revokes the ticket when the item's outcome (or failure) reaches it


class NodeState:
    """One run's resources in this worker process."""

    def __init__(self, run_id: str, gate: tuple[str, int], secret: bytes) -> None:
        self.run_id = run_id
        self.relay = NodeRelay(gate, secret).start()
        self._images: dict[str, str] = {}
        self._images_lock = threading.Lock()

    def image(self, recipe: ImageRecipe) -> str:
        with self._images_lock:
            if recipe.key not in self._images:
                self._images[recipe.key] = ensure_recipe(recipe)
            return self._images[recipe.key]


def check_docker() -> None:
    from dgm.errors import DgmError
    from dgm.sandbox.engine import docker_client

    try:
        docker_client().ping()
    except (DgmError, Exception) as exc:  # noqa: BLE001 - any failure means: not here
        refused = NodeRefused(f"no working Docker engine on this node: {str(exc)[:200]}")
        refused.node_id = _node_id()
        raise refused from None


def node_state(run_id: str, gate: tuple[str, int], secret: bytes) -> NodeState:
    """This process's state for the run, made on its first item (after a Docker check and a sweep)."""
    key = (run_id, tuple(gate), secret)
    with _lock:
        state = _nodes.get(key)
        if state is None:
            check_docker()
            from dgm.sandbox.sweep import sweep

            # Containers a dead process of this run left on this host (a node that was killed and came
            # back): their dgm.pid label names a process that no longer exists.
            sweep(run_id)
            state = _nodes[key] = NodeState(run_id, gate, secret)
            atexit.register(state.relay.stop)  # its socket folder in /tmp goes with the worker process
        return state


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - outside Ray
        return ""


def node_label() -> str:
    """This node as the driver's log names it."""
    try:
        import ray

        return f"{ray.get_runtime_context().get_node_id()[:12]} ({os.uname().nodename})"
    except Exception:  # noqa: BLE001
        return os.uname().nodename


def workdir() -> Path:
    import tempfile

    return Path(tempfile.mkdtemp(prefix="dgm-ray-item-", dir="/tmp"))
