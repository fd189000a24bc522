"""Reading, overriding, checking and writing the evolve configuration (TOML, dotted overrides)."""

from __future__ import annotations

import json
import os
import tomllib
import types
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from dgm.errors import ConfigError
from dgm.evolve.config import ROLES, EvolveConfig, KeySpec, key_specs, toml_value, type_name

# Keys a resumed run may change; everything else must match RUN/config.toml.
RESUMABLE = ("run.resume", "evolve.iterations", "evolve.workers", "budget.usd", "budget.wall_seconds")


def load_file(path: Path) -> dict:
    """A config file as nested data (TOML, or YAML when PyYAML is installed)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ModuleNotFoundError:
            raise ConfigError(f"{path}: YAML needs PyYAML", hint="pip install pyyaml, or use TOML") from None
        data = yaml.safe_load(text) or {}
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table")
    return data


def parse_override(text: str) -> tuple[str, Any]:
    """`key.sub=value` → (key, value); the value parses as TOML, else it is a plain string."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not KEY=VALUE", hint="e.g. -c evolve.iterations=5")
    key, raw = text.split("=", 1)
    key, raw = key.strip(), raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, value


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables → {dotted key: value}; free-form dict keys (selection.params) stay whole."""
    specs = {s.key: s for s in key_specs()}
    out: dict[str, Any] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and key not in specs:
            out.update(flatten(value, key + "."))
        else:
            out[key] = value
    return out


def build(sources: Sequence[tuple[Mapping[str, Any], Path | None]]) -> EvolveConfig:
    """Apply flat {key: value} layers in order (each with the dir its relative paths resolve against)."""
    config = EvolveConfig()
    specs = {s.key: s for s in key_specs()}
    for layer, base in sources:
        for key, value in layer.items():
            spec = specs.get(key)
            if spec is None:
                raise ConfigError(f"unknown config key {key!r}", hint=_near(key, specs))
            value = coerce(spec, value)
            if spec.path and value:
                value = str(_resolve(Path(os.path.expanduser(value)), base))
            _set(config, key, value)
    return config


def _resolve(path: Path, base: Path | None) -> Path:
    if path.is_absolute():
        return path
    return ((base or Path.cwd()) / path).resolve()


def _near(key: str, specs: Mapping[str, KeySpec]) -> str:
    section = key.rsplit(".", 1)[0] + "." if "." in key else ""
    allowed = [k for k in specs if k.startswith(section)] or [k.split(".")[0] for k in specs]
    return "allowed: " + ", ".join(dict.fromkeys(allowed))


def coerce(spec: KeySpec, value: Any) -> Any:
    """Check a value against the key's type and choices; ConfigError naming the key otherwise."""
    tp = spec.type
    options = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null") and type(None) in options):
        if type(None) in options:
            return None
        raise ConfigError(f"{spec.key} cannot be empty", hint=f"give a {type_name(tp)}")
    for option in options:
        got = _as(option, value)
        if got is not _NO:
            if spec.choices and got not in spec.choices:
                raise ConfigError(f"{spec.key} = {value!r} is not allowed",
                                  hint="allowed: " + ", ".join(spec.choices))
            return got
    raise ConfigError(f"{spec.key} = {value!r} is not a {type_name(tp)}",
                      hint=spec.help + (f"; allowed: {', '.join(spec.choices)}" if spec.choices else ""))


_NO = object()


def _as(option: Any, value: Any) -> Any:
    if option is type(None):
        return _NO
    if option is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        return _NO
    if option is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _NO
    if option is float:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else _NO
    if option is str:
        return value if isinstance(value, str) else _NO
    origin = typing.get_origin(option) or option
    if origin is list:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = [v.strip() for v in value.split(",") if v.strip()]
        return list(value) if isinstance(value, (list, tuple)) else _NO
    if origin is dict:
        return dict(value) if isinstance(value, Mapping) else _NO
    return _NO


def _set(config: Any, key: str, value: Any) -> None:
    *parents, leaf = key.split(".")
    target = config
    for name in parents:
        target = getattr(target, name)
    setattr(target, leaf, value)


def get(config: Any, key: str) -> Any:
    target = config
    for name in key.split("."):
        target = getattr(target, name)
    return target


def to_dict(obj: Any) -> dict:
    """The config as nested plain data (None values kept)."""
    return {f.name: to_dict(getattr(obj, f.name)) if is_dataclass(getattr(obj, f.name))
            else getattr(obj, f.name) for f in fields(obj)}


def flat_values(config: EvolveConfig) -> dict[str, Any]:
    return {spec.key: get(config, spec.key) for spec in key_specs()}


def inherit_models(config: EvolveConfig) -> None:
    """diagnose and selfmod without a model of their own take models.task's whole table."""
    task = config.models.task
    for role in ("diagnose", "selfmod"):
        section = config.model(role)
        if not section.model and not section.scripted:
            for f in fields(section):
                setattr(section, f.name, getattr(task, f.name))


def dumps(config: EvolveConfig) -> str:
    """The resolved config as TOML (None values are left out: TOML has no null)."""
    lines = ["# resolved dgm evolve configuration", ""]
    _dump_table(to_dict(config), [], lines)
    return "\n".join(lines).rstrip() + "\n"


def _dump_table(data: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not (isinstance(v, Mapping) and _is_section(path + [k]))}
    tables = {k: v for k, v in data.items() if k not in scalars}
    if path and scalars:
        lines.append(f"[{'.'.join(path)}]")
    for key, value in scalars.items():
        if value is not None:
            lines.append(f"{key} = {toml_value(value)}")
    if path and scalars:
        lines.append("")
    for key, value in tables.items():
        _dump_table(value, path + [key], lines)


def _is_section(path: list[str]) -> bool:
    prefix = ".".join(path) + "."
    return any(s.key.startswith(prefix) for s in key_specs())


def conflicts(saved: EvolveConfig, wanted: EvolveConfig) -> list[str]:
    """Keys (outside RESUMABLE) whose values differ between the run's saved config and this one."""
    a, b = flat_values(saved), flat_values(wanted)
    return [k for k in a if k not in RESUMABLE and k != "run.dir" and a[k] != b.get(k)]


def check_roles(config: EvolveConfig) -> None:
    """Every role must have a model (or a script) before anything starts; say exactly what to set."""
    for role in ("task", *[r for r in ROLES if r != "task"]):
        section = config.model(role)
        if not section.model and not section.scripted:
            if role == "task":
                raise ConfigError("no model configured",
                                  hint="set -c models.task.model=<litellm model, e.g. anthropic/claude-sonnet-4-5> "
                                       "(config key models.task.model) and export the provider's key, e.g. "
                                       "ANTHROPIC_API_KEY, or name its variable with models.task.api_key_env")
            raise ConfigError(f"no model for role {role}", hint=f"set models.{role}.model or models.task.model")
        if section.scripted:
            if not Path(section.scripted).is_file():
                raise ConfigError(f"models.{role}.scripted: no such script file {section.scripted}")
            continue
        env = section.api_key_env or (None if section.api_base else provider_key_env(section.model))
        if env and not os.environ.get(env):
            raise ConfigError(f"models.{role}: environment variable {env} is not set (model {section.model})",
                              hint=f"export {env}=... on the host, or name another with "
                                   f"-c models.{role}.api_key_env=VAR")


# The usual key variables of common litellm providers; others are left to litellm to report.
PROVIDER_KEYS = {
    "anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY",
    "mistral": "MISTRAL_API_KEY", "groq": "GROQ_API_KEY", "deepseek": "DEEPSEEK_API_KEY",
    "openrouter": "OPENROUTER_API_KEY", "together_ai": "TOGETHERAI_API_KEY", "xai": "XAI_API_KEY",
}


def provider_key_env(model: str) -> str | None:
    provider = model.split("/", 1)[0] if "/" in model else ""
    if not provider:
        if model.startswith(("gpt-", "o1", "o3", "o4")):
            provider = "openai"
        elif model.startswith("claude"):
            provider = "anthropic"
    return PROVIDER_KEYS.get(provider)
