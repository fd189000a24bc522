"""The evolve configuration: one schema of dataclasses whose field docs are also the --help text."""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Iterator, Mapping

from dgm.errors import ConfigError

ROLES = ("diagnose", "selfmod", "task")


def doc(text: str, *, path: bool = False, choices: tuple | None = None) -> dict:
    """Field metadata: the help line, whether the value is a path, and its allowed values."""
    return {"help": text, "path": path, "choices": choices}


@dataclass
class RunSection:
    dir: str = field(default="runs/evolve", metadata=doc(
        "run directory = archive directory (created; holds archive, artifacts, log)", path=True))
    resume: bool = field(default=False, metadata=doc(
        "continue the run in run.dir (same as --resume)"))
    seed: int = field(default=0, metadata=doc("random seed for parent selection"))


@dataclass
class ModelSection:
    model: str = field(default="", metadata=doc(
        "litellm model string, e.g. anthropic/claude-sonnet-4-5 (diagnose/selfmod default to models.task)"))
    api_base: str = field(default="", metadata=doc("provider base URL (OpenAI-compatible servers, vLLM, Ollama)"))
    api_key_env: str = field(default="", metadata=doc(
        "name of the HOST environment variable holding the key (default: the provider's usual one)"))
    temperature: float | None = field(default=None, metadata=doc("sampling temperature"))
    max_tokens: int | None = field(default=None, metadata=doc("completion token cap per call"))
    timeout: float = field(default=120.0, metadata=doc("seconds per model call"))
    max_retries: int = field(default=5, metadata=doc("retries of a failed model call"))
    price_in_per_mtok: float | None = field(default=None, metadata=doc(
        "USD per million input tokens (for models litellm has no price for)"))
    price_out_per_mtok: float | None = field(default=None, metadata=doc("USD per million output tokens"))
    tokens_only: bool = field(default=False, metadata=doc("accept a model without a price: count tokens, cost 0"))
    scripted: str = field(default="", metadata=doc(
        "JSON model script: the loop serves this role from a local scripted model (offline demo, tests)",
        path=True))


@dataclass
class ModelsSection:
    diagnose: ModelSection = field(default_factory=ModelSection, metadata=doc("model that diagnoses a parent"))
    selfmod: ModelSection = field(default_factory=ModelSection, metadata=doc(
        "model the parent agent uses while rewriting its own code"))
    task: ModelSection = field(default_factory=ModelSection, metadata=doc("model agents use to solve tasks"))


@dataclass
class DatasetSection:
    path: str = field(default="", metadata=doc("SWE-bench-format JSON/JSONL task file", path=True))
    store: str = field(default="", metadata=doc(
        "bench store holding built environments (default: $DGM_HOME/bench)", path=True))
    build: bool = field(default=True, metadata=doc("build and validate missing task environments before starting"))
    stages: list = field(default_factory=lambda: [10, 50], metadata=doc(
        "evaluation stages after stage 0: each a task count (taken in file order after the previous "
        "stages), a list of instance ids, or a file of ids (one per line)"))
    gate: float = field(default=0.4, metadata=doc("score a stage needs before the next stage runs"))
    below_gate: str = field(default="reject", metadata=doc(
        "what happens to a child under the gate", choices=("reject", "admit")))
    smoke: str = field(default="", metadata=doc(
        "instance id of the stage-0 smoke task (default: the first task of stage 1)"))
    heldout: int | str | list = field(default=0, metadata=doc(
        "held-out tasks, never used for selection or admission; the seed and the best agent are scored on "
        "them at the end: a count (the last tasks of the file in no stage), a list of ids, or a file of ids"))
    environments: str = field(default="auto", metadata=doc(
        "task environments: official (SWE-bench's evaluation images, local or pulled; none is an error), "
        "rebuild (offline, from local sources or PyPI releases), or auto (official when it can be had)",
        choices=("auto", "official", "rebuild")))
    image_namespace: str = field(default="swebench", metadata=doc(
        "where classic rows' official images are: NAMESPACE/sweb.eval.x86_64.<id, __ as _1776_>:TAG "
        "(HOST:PORT/NAMESPACE for a registry of your own)"))
    image_tag: str = field(default="latest", metadata=doc("tag of classic rows' official images"))
    allow_leaks: bool = field(default=False, metadata=doc(
        "also use tasks whose rebuilt environment still names what only the fix defines (see docs/rebuild.md)"))


@dataclass
class SelectionSection:
    strategy: str = field(default="score_child_prop", metadata=doc(
        "parent selection strategy", choices=("score_child_prop", "score_prop", "best", "random", "hgm_thompson",
                                       "performance_novelty")))
    params: dict = field(default_factory=dict, metadata=doc("strategy parameters (a table)"))


@dataclass
class PolicySection:
    name: str = field(default="dgm", metadata=doc(
        "scheduling policy: dgm (iterations of k children through gated stages), hgm (asynchronous: expand or "
        "evaluate one task per free worker), sequential (hgm's schedule; a child is dropped once it is unlikely "
        "to beat its parent); see docs/evolve.md", choices=("dgm", "hgm", "sequential")))
    strategy: str = field(default="", metadata=doc(
        "parent selection strategy of hgm/sequential (default: hgm_thompson / lineage); dgm uses "
        "selection.strategy"))
    params: dict = field(default_factory=dict, metadata=doc(
        "policy parameters (a table): hgm alpha, epsilon; sequential delta, min_tasks, tau, noise, refresh, "
        "lineage, alpha, epsilon (docs/scheduler.md)"))


@dataclass
class EvolveSection:
    iterations: int = field(default=10, metadata=doc(
        "iterations after the seed's evaluation (iteration 0); hgm and sequential make at most "
        "iterations x children_per_iteration children"))
    children_per_iteration: int = field(default=2, metadata=doc("children made per iteration"))
    workers: int = field(default=2, metadata=doc("parallel workers (self-modifications, task runs)"))
    diagnose_retries: int = field(default=2, metadata=doc("re-asks after a malformed diagnosis"))
    seed_agent: str = field(default="", metadata=doc(
        "agent tree of the root node (default: agents_archive/seed)", path=True))
    own_tests: str = field(default="cd /testbed && python3 -m pytest -q tests", metadata=doc(
        "command running a child's own tests in its sandbox"))
    cache: str = field(default="run", metadata=doc(
        "result cache: run (RUN/cache.sqlite), home ($DGM_HOME/evolve-cache.sqlite, shared by runs), "
        "off, or the path of a cache file"))
    self_verify: bool = field(default=True, metadata=doc(
        "after each task run, before grading, ask the task's model for P(the patch resolves the issue) "
        "(one call, counted in the budget; see docs/science.md)"))
    executor: str = field(default="local", metadata=doc(
        "where work items run: a thread pool here, or Ray tasks on a cluster of Docker hosts "
        "(pip install -e '.[ray]')", choices=("local", "ray")))
    ray_address: str = field(default="", metadata=doc(
        "Ray cluster address HOST:PORT (evolve.executor = ray; empty: RAY_ADDRESS, else a new local Ray)"))
    ray_cpus: float = field(default=0.0, metadata=doc(
        "CPUs a Ray work item requests (0: limits.sandbox.cpus)"))
    ray_memory_mb: int = field(default=0, metadata=doc(
        "memory (MiB) a Ray work item requests (0: limits.sandbox.memory_mb)"))
    ray_pending: int = field(default=0, metadata=doc(
        "Ray tasks submitted and not yet finished, at most (0: twice the cluster's sandbox slots)"))
    ray_retries: int = field(default=2, metadata=doc(
        "times Ray reruns an item whose node or worker died (never for an agent's or a test's failure)"))
    ray_gate_host: str = field(default="", metadata=doc(
        "address the driver's relay gate listens on for worker nodes (default: the driver's Ray node IP)"))
    ray_registry: str = field(default="", metadata=doc(
        "registry that nodes pull missing task environment images from (empty: build them on every node)"))


@dataclass
class GateSection:
    verifiers: list = field(default_factory=lambda: ["own_tests", "static_checks", "patch_sanity"], metadata=doc(
        "verifiers a child must pass (all of them) after stage 0 and after each stage it passes, besides "
        "dataset.gate; any of hidden_tests, wider_tests, static_checks, patch_sanity, own_tests, model_judge "
        "(docs/science.md; wider_tests also runs the tests around each patch, two more test runs per task "
        "run); [] admits on the stages alone"))


@dataclass
class BudgetSection:
    usd: float = field(default=10.0, metadata=doc("dollar cap for the whole run (0: no cap)"))
    wall_seconds: float = field(default=0.0, metadata=doc("wall-time cap in seconds (0: no cap)"))


@dataclass
class AgentLimitsSection:
    max_steps: int = field(default=30, metadata=doc("agent steps (model calls) per run"))
    max_seconds: float = field(default=900.0, metadata=doc("agent wall seconds per run"))
    max_usd: float = field(default=1.0, metadata=doc("dollars per agent run"))


def _selfmod_limits() -> AgentLimitsSection:
    return AgentLimitsSection(max_steps=50, max_seconds=1800.0, max_usd=2.0)


@dataclass
class SandboxLimitsSection:
    memory_mb: int = field(default=2048, metadata=doc("memory per container (MiB)"))
    cpus: float = field(default=1.0, metadata=doc("CPUs per container"))
    pids: int = field(default=512, metadata=doc("processes per container"))


@dataclass
class SandboxSection:
    backend: str = field(default="", metadata=doc(
        "sandbox backend: docker, podman (rootless) or bwrap (bubblewrap); default $DGM_SANDBOX_BACKEND, "
        "else docker; `dgm doctor` says which work here (docs/sandbox.md)"))


@dataclass
class LimitsSection:
    task: AgentLimitsSection = field(default_factory=AgentLimitsSection, metadata=doc("per task run"))
    selfmod: AgentLimitsSection = field(default_factory=_selfmod_limits, metadata=doc("per self-modification"))
    sandbox: SandboxLimitsSection = field(default_factory=SandboxLimitsSection, metadata=doc("per container"))


@dataclass
class EvolveConfig:
    run: RunSection = field(default_factory=RunSection, metadata=doc("the run"))
    models: ModelsSection = field(default_factory=ModelsSection, metadata=doc("models per role"))
    dataset: DatasetSection = field(default_factory=DatasetSection, metadata=doc("tasks and stages"))
    selection: SelectionSection = field(default_factory=SelectionSection, metadata=doc("parent selection"))
    policy: PolicySection = field(default_factory=PolicySection, metadata=doc("which child or node gets the next worker"))
    evolve: EvolveSection = field(default_factory=EvolveSection, metadata=doc("the loop"))
    gate: GateSection = field(default_factory=GateSection, metadata=doc("admission: the named verifiers"))
    budget: BudgetSection = field(default_factory=BudgetSection, metadata=doc("caps"))
    limits: LimitsSection = field(default_factory=LimitsSection, metadata=doc("per-run and per-container limits"))
    sandbox: SandboxSection = field(default_factory=SandboxSection, metadata=doc("where untrusted code runs"))

    def model(self, role: str) -> ModelSection:
        return getattr(self.models, role)


@dataclass(frozen=True)
class KeySpec:
    """One leaf of the schema: dotted key, type, default, help, allowed values."""

    key: str
    type: Any
    default: Any
    help: str
    path: bool
    choices: tuple | None


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def key_specs(cls: type = EvolveConfig, prefix: str = "", instance: Any = None) -> Iterator[KeySpec]:
    """Every leaf key of the schema in declaration order (defaults from `instance` when given)."""
    instance = cls() if instance is None else instance
    hints = _hints(cls)
    for f in fields(cls):
        value = getattr(instance, f.name)
        key = f"{prefix}{f.name}"
        if is_dataclass(value):
            yield from key_specs(type(value), key + ".", value)
        else:
            meta = f.metadata
            yield KeySpec(key, hints[f.name], value, meta.get("help", ""), bool(meta.get("path")),
                          meta.get("choices"))


def type_name(tp: Any) -> str:
    """A short human name for a field type ("int", "float or none", "list")."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        parts = [type_name(a) for a in typing.get_args(tp)]
        return " or ".join("none" if p == "NoneType" else p for p in parts)
    if origin is not None:
        return origin.__name__
    return getattr(tp, "__name__", str(tp))


def help_text() -> str:
    """The documentation of every key, generated from the schema so it cannot drift."""
    lines = ["configuration keys (TOML file sections, or -c KEY=VALUE; values parse as TOML):"]
    for spec in key_specs():
        default = "" if spec.default in ("", None) else f" [default: {format_value(spec.default)}]"
        choices = f" {{{', '.join(spec.choices)}}}" if spec.choices else ""
        lines.append(f"  {spec.key} ({type_name(spec.type)}){choices}{default}")
        lines.append(f"      {spec.help}")
    return "\n".join(lines)


def format_value(value: Any) -> str:
    return toml_value(value)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} as TOML")

