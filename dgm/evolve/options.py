"""From the command line (config file, overrides, --resume) to one checked EvolveConfig."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from dgm.errors import BadInput, ConfigError
from dgm.evolve import config_io
from dgm.evolve.config import EvolveConfig
from dgm.locks import refuse_if_held

CONFIG_FILE = "config.toml"


def resolve(config_file: Path | None, overrides: Sequence[str], *, resume: Path | bool | None = None,
            complete: bool = True) -> EvolveConfig:
    """Layer defaults, the file, the overrides (and on resume RUN/config.toml) into a checked config.

    `complete=False` (for --show-config) skips what a run needs but a printout does not: a model,
    a dataset, and a run directory that is not already taken."""
    layers: list[tuple[dict, Path | None]] = []
    if config_file is not None:
        layers.append((config_io.flatten(config_io.load_file(config_file)), Path(config_file).resolve().parent))
    over = dict(config_io.parse_override(o) for o in overrides)
    layers.append((over, None))
    wanted = config_io.build(layers)
    if isinstance(resume, Path):
        wanted.run.dir = str(resume.resolve())
        wanted.run.resume = True
    elif resume:
        wanted.run.resume = True
    run_dir = Path(wanted.run.dir).resolve()
    saved_file = run_dir / CONFIG_FILE
    if wanted.run.resume:
        if not saved_file.is_file():
            raise ConfigError(f"cannot resume: {saved_file} does not exist",
                              hint="give the directory of an existing run (run.dir), or start a new run")
        saved = config_io.build([(config_io.flatten(config_io.load_file(saved_file)), run_dir)])
        if config_file is None:
            # Only the overrides were given: apply them on top of the saved run.
            wanted = config_io.build([(config_io.flatten(config_io.load_file(saved_file)), run_dir), (over, None)])
            wanted.run.dir = str(run_dir)
        config_io.inherit_models(wanted)
        bad = config_io.conflicts(saved, wanted)
        if bad:
            raise ConfigError(f"--resume: the configuration differs from the run's {saved_file} in "
                              + ", ".join(bad),
                              hint="resume without a config file, or change only "
                                   + ", ".join(config_io.RESUMABLE))
        wanted.run.resume = True
    else:
        config_io.inherit_models(wanted)
        if saved_file.exists() and complete:
            refuse_if_held(run_dir)  # a live run there: name its process rather than suggest --resume
            raise ConfigError(f"run directory {run_dir} already holds a run",
                              hint="add --resume to continue it, or choose another run.dir")
    wanted.run.dir = str(run_dir)
    check(wanted, complete=complete)
    return wanted


def check(config: EvolveConfig, *, complete: bool = True) -> None:
    """Value checks that need more than a type: ranges, stages, the selector name."""
    if complete:
        config_io.check_roles(config)
    e, d = config.evolve, config.dataset
    if e.iterations < 0:
        raise ConfigError("evolve.iterations must be >= 0")
    if e.children_per_iteration < 1:
        raise ConfigError("evolve.children_per_iteration must be >= 1")
    if e.workers < 1:
        raise ConfigError("evolve.workers must be >= 1")
    if e.diagnose_retries < 0:
        raise ConfigError("evolve.diagnose_retries must be >= 0")
    if not 0.0 <= d.gate <= 1.0:
        raise ConfigError(f"dataset.gate = {d.gate} must be between 0 and 1")
    if config.budget.usd < 0 or config.budget.wall_seconds < 0:
        raise ConfigError("budget.usd and budget.wall_seconds must be >= 0 (0: no cap)")
    if not d.path and complete:
        raise ConfigError("no dataset configured", hint="set -c dataset.path=FILE.jsonl (SWE-bench-format tasks)")
    if d.path and not Path(d.path).is_file():
        raise ConfigError(f"dataset.path: no such file {d.path}")
    if not d.stages:
        raise ConfigError("dataset.stages needs at least one stage", hint="e.g. -c 'dataset.stages=[10, 50]'")
    for i, stage in enumerate(d.stages):
        if isinstance(stage, bool) or not isinstance(stage, (int, str, list)):
            raise ConfigError(f"dataset.stages[{i}] = {stage!r} must be a count, a list of ids or a file")
        if isinstance(stage, int) and stage < 1:
            raise ConfigError(f"dataset.stages[{i}] = {stage} must be >= 1")
    for role_limits, name in ((config.limits.task, "task"), (config.limits.selfmod, "selfmod")):
        if role_limits.max_steps < 1 or role_limits.max_seconds <= 0 or role_limits.max_usd < 0:
            raise ConfigError(f"limits.{name}: max_steps >= 1, max_seconds > 0 and max_usd >= 0")
    check_gate(config.gate.verifiers)
    s = config.limits.sandbox
    if s.memory_mb < 64 or s.cpus <= 0 or s.pids < 16:
        raise ConfigError("limits.sandbox: memory_mb >= 64, cpus > 0, pids >= 16")
    try:
        from dgm.selection import make_selector
    except ModuleNotFoundError:
        return  # selection not installed yet: checked when the loop starts
    try:
        make_selector(config.selection.strategy, **config.selection.params)
    except (TypeError, BadInput) as exc:
        raise ConfigError(f"selection.params: {exc}") from None
    from dgm.evolve.policy import run_policy
    from dgm.scheduler.states import EvalPlan

    try:
        if config.policy.strategy:
            from dgm.scheduler.strategies import make_strategy

            make_strategy(config.policy.strategy)
        run_policy(config, EvalPlan())
    except BadInput as exc:
        raise ConfigError(f"policy: {exc.message}", hint=exc.hint) from None


def check_gate(names: list) -> None:
    """gate.verifiers: known verifier names, each once."""
    from dgm.science.verifiers import NAMES

    for name in names:
        if name not in NAMES:
            raise ConfigError(f"gate.verifiers: no verifier named {name!r}", hint="allowed: " + ", ".join(NAMES))
    if len(set(names)) != len(names):
        raise ConfigError(f"gate.verifiers names a verifier twice: {names}", hint="name each verifier once")


def write(config: EvolveConfig, run_dir: Path) -> Path:
    """Persist the resolved config as RUN/config.toml (atomically)."""
    import os
    import tempfile

    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CONFIG_FILE
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".config.")
    with os.fdopen(fd, "w") as fh:
        fh.write(config_io.dumps(config))
    os.replace(tmp, path)
    return path
