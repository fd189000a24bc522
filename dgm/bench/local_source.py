"""Recipes for tasks whose repository is a local directory (the toy tasks, private repos)."""

from __future__ import annotations

from pathlib import Path

from dgm.bench.instances import TaskInstance
from dgm.bench.recipe import EnvRecipe
from dgm.errors import BadInput

# Python of each suite's base image, and the test runner every local task gets.
SUITE_PYTHON = {"bookworm": "3.11", "bullseye": "3.9"}
DEFAULT_REQUIREMENTS = ["pytest==8.3.3"]


def local_source_dir(instance: TaskInstance) -> Path:
    """The directory named by extra["dgm_source"]["path"], relative to the dataset file."""
    source = instance.extra.get("dgm_source") or {}
    rel = source.get("path")
    if not isinstance(rel, str) or not rel:
        raise BadInput(f"{instance.instance_id}: dgm_source needs a 'path'",
                       hint='e.g. {"kind": "local", "path": "repos/calc"}')
    path = Path(rel)
    if not path.is_absolute():
        anchor = instance.source_file.parent if instance.source_file else Path.cwd()
        path = anchor / path
    if not path.is_dir():
        raise BadInput(f"{instance.instance_id}: dgm_source path {path} is not a directory")
    return path.resolve()


def local_recipe(instance: TaskInstance, workdir: Path) -> EnvRecipe:
    """Local source as-is (it is the "before" state), pytest from wheels, test command from the row."""
    from dgm.home import dgm_home
    from dgm.sandbox.images import fetch_wheels
    from dgm.sandbox.locks import build_lock

    source = instance.extra["dgm_source"]
    suite = source.get("suite", "bookworm")
    if suite not in SUITE_PYTHON:
        raise BadInput(f"{instance.instance_id}: unknown suite {suite!r}", hint="use bookworm or bullseye")
    test_command = instance.extra.get("test_command")
    if not isinstance(test_command, str) or not test_command.strip():
        raise BadInput(f"{instance.instance_id}: a local task needs a 'test_command' field")
    requirements = list(source.get("requirements", DEFAULT_REQUIREMENTS))
    python = SUITE_PYTHON[suite]
    wheels = None
    if requirements:
        # One shared wheel folder per requirement set: pip download skips what is there.
        key = "-".join(sorted(r.replace("=", "").replace("<", "").replace(">", "") for r in requirements))
        wheels = dgm_home() / "wheels" / f"py{python}-{key}"[:120]
        done = wheels / ".complete"
        with build_lock(f"wheels-{wheels.name}"):  # parallel builds fetch once
            if not done.is_file():  # fetched once; later builds work offline
                fetch_wheels(requirements, wheels, python)
                done.write_text("\n".join(requirements) + "\n")
    return EnvRecipe(
        instance_id=instance.instance_id,
        source_dir=local_source_dir(instance),
        suite=suite,
        wheels_dir=wheels,
        requirements=requirements,
        install_cmd=source.get("install_cmd", ""),
        test_command=test_command,
        log_parser=str(instance.extra.get("log_parser") or "pytest"),
        env=dict(source.get("env", {})),
        notes={"kind": "local", "python": python, "source": str(local_source_dir(instance))},
        environment_key=f"local-{local_source_dir(instance).name}-py{python}",
    )
