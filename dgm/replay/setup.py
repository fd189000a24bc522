"""What a replay needs from a run directory: its configuration, the task, its environment, the model."""

from __future__ import annotations

import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any

from dgm.errors import BadInput

CONFIG_FILE = "config.toml"


def run_config(run_dir: Path) -> dict[str, Any]:
    """RUN/config.toml as a dict ({} when the run has none, e.g. an archive made by hand)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"cannot read {path}: {exc}", hint="fix the file or pass --dataset and --model") from exc


def section(config: dict, *keys: str) -> dict:
    for key in keys:
        config = config.get(key) if isinstance(config, dict) else None
    return config if isinstance(config, dict) else {}


def load_instance(dataset: Path | None, config: dict, instance_id: str) -> Any:
    """The TaskInstance `instance_id` from --dataset, else from the run's dataset.path."""
    from dgm.bench.instances import load_instances

    path = dataset or (Path(section(config, "dataset")["path"]) if section(config, "dataset").get("path") else None)
    if path is None:
        raise BadInput("no dataset to find the instance in", hint="pass --dataset FILE.jsonl")
    if not Path(path).is_file():
        raise BadInput(f"dataset {path}: no such file", hint="pass --dataset FILE.jsonl")
    found = load_instances(Path(path), ids=[instance_id])
    if not found:
        raise BadInput(f"instance {instance_id!r} is not in {path}", hint="check the id (see the report's task tables)")
    return found[0]


def load_environment(store_dir: Path | None, config: dict, instance: Any) -> Any:
    """The built, validated TaskEnvironment of the instance from --store, the run's store, or the default."""
    from dgm.bench.store import BenchStore

    configured = section(config, "dataset").get("store")
    store_path = store_dir or (Path(configured) if configured else None)
    store = BenchStore(store_path) if store_path is not None else BenchStore()
    try:
        env = store.environment(instance.instance_id)
    except KeyError:
        env = None
    if env is None or not str(getattr(env, "status", "")).startswith("validated"):
        raise BadInput(f"the environment of {instance.instance_id} is not built in {store.path}",
                       hint="build it with `dgm bench build`, or pass --store DIR")
    return env


def model_settings(config: dict, *, model: str | None, api_base: str | None, api_key_env: str | None,
                   tokens_only: bool, role: str = "task") -> tuple[Any, Path | None]:
    """(ModelSettings, a scripted-model file to serve) from the flags, else the run's models.<role>
    (the loop's rule: diagnose and selfmod inherit what they leave unset from models.task)."""
    from dgm.llm.settings import ModelSettings

    if model:
        return ModelSettings(model=model, api_base=api_base or None, api_key_env=api_key_env or None,
                             tokens_only=tokens_only), None
    table = {k: v for k, v in section(config, "models", "task").items() if v not in ("", None)}
    if role != "task":
        table.update({k: v for k, v in section(config, "models", role).items() if v not in ("", None)})
    scripted = table.pop("scripted", "") or None
    known = {f.name for f in fields(ModelSettings)}
    values = {k: v for k, v in table.items() if k in known and v not in ("", None)}
    if api_base:
        values["api_base"] = api_base
    if api_key_env:
        values["api_key_env"] = api_key_env
    if tokens_only:
        values["tokens_only"] = True
    if scripted:
        return None, Path(scripted)
    if not values.get("model"):
        raise BadInput("no model for the replay", hint="pass --model (a litellm model string) or --from-log")
    return ModelSettings(**values), None


def scripted_settings(url: str, name: str = "scripted") -> Any:
    """Settings that point the task role at a local scripted model server (no price: tokens only)."""
    from dgm.llm.settings import ModelSettings

    return ModelSettings(model=f"openai/{name}", api_base=url, tokens_only=True, max_retries=0)


DEFAULT_LIMITS = {"task": (30, 900.0, 1.0), "selfmod": (50, 1800.0, 2.0)}


def agent_limits(config: dict, role: str, *, max_steps: int | None = None, max_seconds: float | None = None,
                 max_usd: float | None = None) -> Any:
    """AgentLimits for `role`: the flags, else the run's limits.<role>, else the loop's defaults."""
    from dgm.agent import AgentLimits

    table = section(config, "limits", role)
    steps, seconds, usd = DEFAULT_LIMITS[role]
    return AgentLimits(
        max_steps=int(max_steps if max_steps is not None else table.get("max_steps", steps)),
        max_seconds=float(max_seconds if max_seconds is not None else table.get("max_seconds", seconds)),
        max_usd=max_usd if max_usd is not None else table.get("max_usd", usd),
    )
