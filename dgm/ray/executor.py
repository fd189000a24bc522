"""RayExecutor: the Executor protocol over a Ray cluster of Docker hosts.

Self-modifications, stage-0 checks and task runs become Ray tasks that each ask for CPUs, memory and
one `sandbox_slot`; diagnoses (which call the model directly, with the driver's keys) stay in a local
thread. A dispatcher thread keeps at most `pending` tasks in Ray (ray.wait), turns every result back
into an outcome, writes the item's files into its output folder and recomputes its usage from the
driver's ledger, so the loop sees exactly what the local pool would have given it.
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dgm.errors import ConfigError
from dgm.evolve.items import DiagnoseItem, EvalItem, SelfModifyItem
from dgm.llm.relay_gate import RelayGate
from dgm.ray import wire
from dgm.ray.connect import connect, slots_of
from dgm.ray.task import RemoteItem, Ticket, probe_node, run_remote, sweep_node

REFUSALS = 3   # a node refusing work sends the item elsewhere this many times before it is crashed


@dataclass
class RaySettings:
    address: str
    cpus: float
    memory_mb: int
    pending: int = 0
    retries: int = 2
    gate_host: str = ""
    registry: str = ""


@dataclass
class _Entry:
    item: Any
    future: Future
    ticket: Ticket | None
    before: dict | None
    worker: str
    started: float = 0.0
    refusals: int = 0


class RayExecutor:
    def __init__(self, settings: RaySettings, context: Any, board: Any, *,
                 local: Any = None, log: Callable[[str], None] = lambda _m: None) -> None:
        import ray

        self.settings = settings
        self.context = context
        self.board = board
        self.log = log
        self.local = local               # runs DiagnoseItems here
        self.address = connect(settings.address)
        self.slots = slots_of(settings.address)
        self.pending = settings.pending or max(2, 2 * int(self.slots))
        self.secret = secrets.token_bytes(32)
        host = settings.gate_host or ray.util.get_node_ip_address()
        self.gate = RelayGate(context.relay.socket_path, self.secret, host=host).start()
        context.relay.set_peer_connections(max(context.relay.peer_connections, self.gate.max_streams))
        self._remote = ray.remote(run_remote)
        self._agent = None
        self._trees: dict[Path, Any] = {}
        self._queue: collections.deque[_Entry] = collections.deque()
        self._running: dict[Any, _Entry] = {}
        self._cond = threading.Condition()
        self._stop = False
        self._seq = 0
        self._finishing = 0
        # Turning a result into an outcome may call the model (evolve.self_verify): off the dispatcher thread.
        self._finisher = ThreadPoolExecutor(max_workers=4, thread_name_prefix="dgm-ray-finish")
        self.refused: dict[str, str] = {}   # Ray node id -> why it refused work
        log(f"ray: connected to {self.address}: {self.slots:g} sandbox slot(s); relay gate on {host}:{self.gate.port}")
        self._admit()
        self._thread = threading.Thread(target=self._dispatch, name="dgm-ray-dispatch", daemon=True)
        self._thread.start()

    # ---- the Executor protocol -----------------------------------------------------------------
    def submit(self, item: Any) -> "Future[Any]":
        if isinstance(item, DiagnoseItem):
            return self.local.submit(item)
        future: Future = Future()
        ticket, before = self._ticket(item)
        with self._cond:
            self._seq += 1
            self._queue.append(_Entry(item, future, ticket, before, f"ray#{self._seq}"))
            self._cond.notify()
        return future

    def shutdown(self, wait: bool = True) -> None:
        import ray

        with self._cond:
            if wait:
                while self._queue or self._running or self._finishing:
                    self._cond.wait(0.5)
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=30)
        self._finisher.shutdown(wait=wait, cancel_futures=not wait)
        for ref, entry in list(self._running.items()):
            ray.cancel(ref, force=True)
            self._close(entry, None)
        for entry in list(self._queue):
            self._close(entry, None)
        self._queue.clear()
        self._running.clear()
        self.sweep()
        self.gate.stop()
        if self.local is not None:
            self.local.shutdown(wait=wait)
        ray.shutdown()

    # ---- driver side of an item -----------------------------------------------------------------
    def _ticket(self, item: Any) -> tuple[Ticket | None, dict | None]:
        """Issue the item's relay token here, with the account, budget and recording the loop chose."""
        if not isinstance(item, (SelfModifyItem, EvalItem)):
            return None, None
        role = "selfmod" if isinstance(item, SelfModifyItem) else "task"
        record = Path(item.out_dir) / "llm_calls.jsonl" if item.out_dir is not None else None
        if record is not None:
            record.parent.mkdir(parents=True, exist_ok=True)
        relay = self.context.relay
        before = relay.gateway.ledger.usage(item.account).to_dict()
        token = relay.issue_token(item.account, role=role, budget_usd=item.limits.max_usd, record_path=record)
        return Ticket(token, relay.gateway.settings_for(role).model), before

    def _tree_ref(self, path: Path) -> Any:
        import ray

        if path not in self._trees:
            self._trees[path] = ray.put(wire.pack_tree(path))
        return self._trees[path]

    def _agent_ref(self) -> Any:
        import ray

        from dgm.ray.images import agent_recipe

        if self._agent is None:
            self._agent = ray.put(agent_recipe())
        return self._agent

    def _launch(self, entry: _Entry) -> None:
        item = entry.item
        tree = item.parent_tree if isinstance(item, SelfModifyItem) else item.tree
        options: dict[str, Any] = dict(num_cpus=self.settings.cpus, memory=self.settings.memory_mb * 2**20,
                                       resources={"sandbox_slot": 1}, max_retries=self.settings.retries,
                                       retry_exceptions=False)
        if self.refused:  # nodes without a working Docker engine get no more items of this run
            from ray.util.scheduling_strategies import NodeLabelSchedulingStrategy, NotIn

            if not [n for n in self._slot_nodes() if n not in self.refused]:
                why = "; ".join(sorted(set(self.refused.values())))
                self._close(entry, f"every node of the cluster refuses work: {why}")
                return
            options["scheduling_strategy"] = NodeLabelSchedulingStrategy(
                hard={"ray.io/node-id": NotIn(*self.refused)})
        remote = RemoteItem(item, entry.ticket, self.context.run_id, self.gate.address, self.secret,
                            self.settings.registry)
        ref = self._remote.options(**options).remote(remote, self._agent_ref(), self._tree_ref(Path(tree)))
        entry.started = time.monotonic()
        self._running[ref] = entry
        self.board.set(entry.worker, item.label())

    def _dispatch(self) -> None:
        import ray

        while True:
            with self._cond:
                if self._stop:
                    return
                while self._queue and len(self._running) < self.pending:
                    entry = self._queue.popleft()
                    try:
                        self._launch(entry)
                    except Exception as exc:  # noqa: BLE001 - the item is lost to Ray, not to the loop
                        self._close(entry, f"could not submit to Ray: {type(exc).__name__}: {exc}")
                refs = list(self._running)
                if not refs:
                    self._cond.wait(0.2)
                    continue
            done, _ = ray.wait(refs, num_returns=1, timeout=0.2)
            for ref in done:
                with self._cond:
                    entry = self._running.pop(ref, None)
                    if entry is not None:
                        self._finishing += 1
                if entry is not None:
                    self._finisher.submit(self._finish_safely, ref, entry)
            if done:
                with self._cond:
                    self._cond.notify_all()

    def _finish_safely(self, ref: Any, entry: _Entry) -> None:
        try:
            self._finish(ref, entry)
        except Exception as exc:  # noqa: BLE001 - one bad answer must not lose its item
            self._close(entry, f"the worker's answer could not be used: {type(exc).__name__}: {exc}")
        finally:
            with self._cond:
                self._finishing -= 1
                self._cond.notify_all()

    def _finish(self, ref: Any, entry: _Entry) -> None:
        import ray

        from dgm.ray.node import NodeRefused

        try:
            result = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, NodeRefused) and entry.refusals < REFUSALS:
                self._refuse(getattr(cause, "node_id", "") or "?", str(cause))
                entry.refusals += 1
                with self._cond:
                    self._queue.appendleft(entry)
                return
            self._close(entry, f"the Ray task failed: {str(exc)[-1500:]}")
            return
        except Exception as exc:  # noqa: BLE001 - node lost past its retries, task cancelled, ...
            self._close(entry, f"the Ray task failed: {type(exc).__name__}: {str(exc)[-1500:]}")
            return
        try:
            outcome = wire.outcome_from(getattr(result, "outcome", None))
            out_dir = getattr(entry.item, "out_dir", None)
            if out_dir is not None:
                files = dict(getattr(result, "files", {}) or {})
                self._fix_run_json(files, entry)
                wire.write_files(files, Path(out_dir))
        except wire.WireRefused as exc:
            self._close(entry, f"the worker's answer was refused: {exc}")
            return
        self._verify(entry.item, outcome)
        self._close(entry, None, outcome)

    def _verify(self, item: Any, outcome: Any) -> None:
        """evolve.self_verify's call to the task's model, made here where the keys are (the node skipped it)."""
        if not (isinstance(item, EvalItem) and getattr(item, "verify", False) and item.grade
                and not outcome.empty_patch and hasattr(outcome, "verification")):
            return
        from dgm.science.verify import verify_patch

        outcome.verification = verify_patch(self.context.gateway, item.instance_id, item.instance.problem_statement,
                                            outcome.agent.patch, account=f"{item.account}:verify")

    def _usage(self, entry: _Entry) -> dict:
        if entry.ticket is None or entry.before is None:
            return {}
        after = self.context.relay.gateway.ledger.usage(entry.item.account).to_dict()
        before = entry.before
        return {"tokens_in": after["prompt_tokens"] - before["prompt_tokens"],
                "tokens_out": after["completion_tokens"] - before["completion_tokens"],
                "cost_usd": round(after["usd"] - before["usd"], 6), "calls": after["calls"] - before["calls"]}

    def _fix_run_json(self, files: dict, entry: _Entry) -> None:
        """run.json as the engine writes it, with the usage the driver's ledger saw (not the worker's)."""
        import json

        raw = files.get("run.json")
        if not isinstance(raw, bytes):
            return
        try:
            data = json.loads(raw)
        except ValueError:
            files.pop("run.json")
            return
        if isinstance(data, dict):
            if entry.ticket is not None:
                self.context.relay.revoke(entry.ticket.token)
            data["usage"] = self._usage(entry)
            files["run.json"] = (json.dumps(data, indent=2) + "\n").encode()

    def _close(self, entry: _Entry, error: str | None, outcome: Any = None) -> None:
        """Revoke the item's token, set its usage from the ledger, hand the outcome to the loop."""
        from dgm.evolve.workers import crashed_outcome

        if entry.ticket is not None:
            self.context.relay.revoke(entry.ticket.token)
        seconds = time.monotonic() - entry.started if entry.started else 0.0
        if outcome is None:
            outcome = crashed_outcome(entry.item, error or "cancelled", seconds)
        usage = self._usage(entry)
        agent = getattr(outcome, "agent", outcome)
        if entry.ticket is not None and hasattr(agent, "usage"):
            agent.usage = usage
        self.board.clear(entry.worker)
        if not entry.future.done():
            entry.future.set_result(outcome)

    # ---- nodes -----------------------------------------------------------------------------------
    def _slot_nodes(self) -> list[str]:
        import ray

        return [n["NodeID"] for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("sandbox_slot")]

    def on_each_node(self, fn: Callable, *args: Any, timeout: float = 60.0) -> list:
        """Run FN once on every live node with sandbox slots (no slot taken); failures are skipped."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        task = ray.remote(fn)
        refs = [task.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False),
                             max_retries=0).remote(*args) for node in self._slot_nodes()]
        out = []
        for ref in refs:
            try:
                out.append(ray.get(ref, timeout=timeout))
            except Exception:  # noqa: BLE001 - a node that died meanwhile
                pass
        return out

    def _admit(self) -> None:
        """Ask every node with slots for its Docker engine before the first item; those without one get
        no items (a node joining later is checked by its first item, and refuses it the same way)."""
        for report in self.probe([]):
            if report["docker"] != "ok":
                self._refuse(report["node_id"], report["docker"])

    def _refuse(self, node: str, why: str) -> None:
        if node not in self.refused:
            self.refused[node] = why
            self.log(f"ray: node {node[:12]} refuses work: {why}")

    def sweep(self) -> None:
        """Remove, on every live node, this run's containers whose owner process is gone."""
        for node, removed in self.on_each_node(sweep_node, self.context.run_id):
            if removed:
                self.log(f"ray: removed {removed} container(s) left on node {node}")

    def probe(self, images: list[str]) -> list[dict]:
        return self.on_each_node(probe_node, self.context.run_id, images)


def require_ray() -> None:
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError("evolve.executor = ray needs Ray, which is not installed",
                          hint="pip install -e '.[ray]'") from None
