"""The body of a Ray task: one work item on a worker node, with that node's relay and images.

The item's trees arrive as tar bytes, its output folder is a temporary one here, and what it wrote
there goes back as data; the driver alone writes the run directory, the archive and the cache.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, replace
from typing import Any

from dgm.evolve.items import CheckItem, EvalItem, SelfModifyItem
from dgm.ray import wire
from dgm.ray.images import ImageRecipe, ensure_tag
from dgm.ray.node import TicketRelay, node_label, node_state, workdir


@dataclass
class Ticket:
    """The driver's grant for one item: a relay token it issued, and the model the sandbox will see."""

    token: str
    model: str


@dataclass
class RemoteItem:
    item: Any                 # the work item; its tree paths are the driver's and are replaced here
    ticket: Ticket | None     # None for items that call no model (stage 0 checks)
    run_id: str
    gate: tuple[str, int]
    secret: bytes
    registry: str = ""


@dataclass
class RemoteResult:
    outcome: bytes            # wire.outcome_bytes
    files: dict               # name -> bytes, from the item's output folder
    node: str
    seconds: float


def run_remote(remote: RemoteItem, agent: ImageRecipe, tree_tar: bytes) -> RemoteResult:
    """Run one item here; the engine's failures become crashed outcomes, as in the local pool.

    AGENT and TREE_TAR are passed as object references, so each node fetches them once per run."""
    from dgm.evolve.workers import WorkContext, crashed_outcome, perform

    started = time.monotonic()
    state = node_state(remote.run_id, remote.gate, remote.secret)  # NodeRefused: a Ray-level failure
    scratch = workdir()
    files: dict = {}
    try:
        item = remote.item
        tree = wire.unpack_tree(tree_tar, scratch / "tree")
        out_dir = scratch / "out" if getattr(item, "out_dir", None) is not None else None
        if isinstance(item, SelfModifyItem):
            item = replace(item, parent_tree=tree, out_dir=out_dir)
        elif isinstance(item, EvalItem):
            item = replace(item, tree=tree, out_dir=out_dir)
            if getattr(item, "verify", False):
                item = replace(item, verify=False)  # a model call with the driver's keys: the driver makes it
        elif isinstance(item, CheckItem):
            item = replace(item, tree=tree)
        relay = TicketRelay(state.relay, remote.ticket.token, remote.ticket.model) if remote.ticket else None
        context = WorkContext(None, relay, remote.run_id, lambda: state.image(agent))
        try:
            if isinstance(item, EvalItem):
                ensure_tag(item.environment.image, remote.registry)
            outcome = perform(item, context)
        except Exception as exc:  # noqa: BLE001 - an image this node cannot get: an engine failure
            outcome = crashed_outcome(item, f"{type(exc).__name__}: {exc}", time.monotonic() - started)
        if out_dir is not None and out_dir.is_dir():
            files = wire.collect_files(out_dir)
        return RemoteResult(wire.outcome_bytes(outcome), files, node_label(), time.monotonic() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def sweep_node(run_id: str) -> tuple[str, int]:
    """Remove this run's containers on this node whose owner process is gone."""
    from dgm.sandbox.sweep import sweep

    return node_label(), sweep(run_id)


def probe_node(run_id: str, images: list[str]) -> dict:
    """What `dgm doctor --ray` and the driver want to know of a node: Docker, images, slots."""
    from dgm.ray.node import NodeRefused, check_docker

    from dgm.ray.node import _node_id

    report: dict = {"node": node_label(), "node_id": _node_id(), "docker": "ok", "missing": []}
    try:
        check_docker()
    except NodeRefused as exc:
        report["docker"] = str(exc)
        return report
    from dgm.sandbox.engine import image_exists

    report["missing"] = [tag for tag in images if not image_exists(tag)]
    return report
