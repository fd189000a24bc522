"""One run's open resources: run directory, archive, model gateway and relay, scripted servers, tasks."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dgm.errors import ConfigError
from dgm.evolve import options
from dgm.evolve.config import ROLES, EvolveConfig
from dgm.evolve.progress import Progress
from dgm.evolve.tasks import TaskPlan
from dgm.locks import RunLock

RUN_FILE = "run.json"
SCRIPTED_MODEL = "openai/scripted"


def seed_tree(config: EvolveConfig) -> Path:
    """The root agent: evolve.seed_agent, or the seed agent shipped with dgm."""
    if config.evolve.seed_agent:
        return Path(config.evolve.seed_agent)
    return Path(__file__).resolve().parents[2] / "agents_archive" / "seed"


def run_id_for(run_dir: Path) -> str:
    """The run's stable id (container labels, relay accounts): made once, kept in RUN/run.json."""
    path = run_dir / RUN_FILE
    if path.exists():
        return json.loads(path.read_text())["run_id"]
    rid = f"evolve-{uuid.uuid4().hex[:10]}"
    tmp = run_dir / (RUN_FILE + ".tmp")
    tmp.write_text(json.dumps({"run_id": rid}) + "\n")
    os.replace(tmp, path)
    return rid


def model_settings(config: EvolveConfig, servers: dict[str, Any]) -> dict[str, Any]:
    """ModelSettings per role; scripted roles point at their local server."""
    from dgm.llm.settings import ModelSettings

    roles = {}
    for role in ROLES:
        m = config.model(role)
        priced = m.price_in_per_mtok is not None and m.price_out_per_mtok is not None
        if m.scripted:
            roles[role] = ModelSettings(
                model=SCRIPTED_MODEL, api_base=servers[m.scripted].url, temperature=m.temperature,
                max_tokens=m.max_tokens, timeout=m.timeout, max_retries=m.max_retries,
                price_in_per_mtok=m.price_in_per_mtok, price_out_per_mtok=m.price_out_per_mtok,
                tokens_only=not priced, retry_base_seconds=0.2, retry_max_seconds=2.0)
        else:
            roles[role] = ModelSettings(
                model=m.model, api_base=m.api_base or None, api_key_env=m.api_key_env or None,
                temperature=m.temperature, max_tokens=m.max_tokens, timeout=m.timeout,
                max_retries=m.max_retries, price_in_per_mtok=m.price_in_per_mtok,
                price_out_per_mtok=m.price_out_per_mtok, tokens_only=m.tokens_only)
    return roles


@dataclass
class Session:
    """Everything a run holds open; close() releases it (servers, relay, sockets, temp dirs)."""

    config: EvolveConfig
    run_dir: Path
    run_id: str
    archive: Any
    gateway: Any
    relay: Any
    plan: TaskPlan
    environments: dict[str, Any]
    progress: Progress
    work_dir: Path                      # loop-owned temp dir: checkouts, patched trees
    stack: ExitStack = field(default_factory=ExitStack)

    def close(self) -> None:
        self.stack.close()


def open_session(config: EvolveConfig, *, live: bool | None = None) -> Session:
    """Check the tasks, then create or reopen the run; nothing is spent before the checks pass."""
    from dgm.evolve.tasks import environments, plan_tasks

    plan = plan_tasks(config)  # a bad stage or id fails here, before any container or call
    from dgm.sandbox.backends import require_backend, use_backend

    # The backend of every sandbox this run (and its worker processes) starts; one the machine
    # lacks is a one-line error naming what to install, before anything is spent.
    require_backend(use_backend(config.sandbox.backend))
    run_dir = Path(config.run.dir)
    resuming = config.run.resume
    # The run directory has one owner at a time, claimed before anything in it is touched (the log, the
    # options, the sweep of the run's containers, the archive): a second start fails here naming the first.
    lock = RunLock.acquire(run_dir, what="dgm evolve")
    stack = ExitStack()
    stack.callback(lock.release)  # the first callback registered: released after everything else closed
    try:
        if not resuming and (run_dir / options.CONFIG_FILE).exists():
            # Another start got here first and finished between our checks and the lock.
            raise ConfigError(f"run directory {run_dir} already holds a run",
                              hint="add --resume to continue it, or choose another run.dir")
        progress = stack.enter_context(Progress(run_dir, live=live))
        if not resuming:
            options.write(config, run_dir)
        rid = run_id_for(run_dir)
        progress.log(f"{'resuming' if resuming else 'starting'} run {rid} in {run_dir}")
        if resuming:
            from dgm.sandbox.driver import sweep

            removed = sweep(rid)
            if removed:
                progress.log(f"removed {removed} container(s) left by the interrupted run")
        archive = _archive(config, run_dir, rid)
        stack.callback(archive.close)
        envs = environments(config, plan, rid, progress.log)
        servers = _scripted_servers(config, stack)
        from dgm.llm.gateway import Gateway
        from dgm.llm.relay import Relay

        gateway = Gateway(model_settings(config, servers), run_dir=run_dir,
                          budget_usd=config.budget.usd or None)
        spent = gateway.ledger.usage().usd
        if spent:
            progress.log(f"the run had spent ${spent:.4f} before this start")
        socket_dir = Path(tempfile.mkdtemp(prefix="dgm-relay-"))
        stack.callback(shutil.rmtree, socket_dir, True)
        relay = Relay(gateway, socket_dir)
        stack.enter_context(relay)
        work_dir = Path(tempfile.mkdtemp(prefix="dgm-evolve-"))
        stack.callback(shutil.rmtree, work_dir, True)
        return Session(config, run_dir, rid, archive, gateway, relay, plan, envs, progress, work_dir, stack)
    except BaseException:
        stack.close()
        raise


def _archive(config: EvolveConfig, run_dir: Path, rid: str) -> Any:
    from dgm.archive import Archive
    from dgm.archive.store import is_archive

    if is_archive(run_dir):
        return Archive.open(run_dir)
    return Archive.create(run_dir, seed_tree(config), meta={"run_id": rid, "made_by": "dgm evolve"})


def _scripted_servers(config: EvolveConfig, stack: ExitStack) -> dict[str, Any]:
    from dgm.llm.scripted import ScriptedModelServer

    servers: dict[str, Any] = {}
    for role in ROLES:
        path = config.model(role).scripted
        if path and path not in servers:
            servers[path] = stack.enter_context(ScriptedModelServer.from_file(Path(path)))
    return servers
