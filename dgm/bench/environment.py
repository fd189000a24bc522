"""Environment images: an EnvRecipe becomes `dgm-env-<id>:<hash>`, built with no network.

Every task image follows one convention: a venv at /opt/dgm/venv first on PATH (the
agent's `python3` and the tests both use it), the repository at /testbed as a git
repository whose single commit is the task's base, and a copy at /opt/dgm/seed/testbed
that the sandbox driver puts into a writable /testbed when a container starts.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Callable

import dgm
from dgm.bench.recipe import EnvRecipe
from dgm.errors import BenchError

VENV = "/opt/dgm/venv"
BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RECIPE_DIR = Path(dgm.__file__).resolve().parent.parent / "sandbox" / "env"
# Never part of a task's source: host caches and VCS metadata of the source dir.
SKIP_NAMES = {"__pycache__", ".pytest_cache", ".git", ".hg", ".tox", ".mypy_cache"}

Progress = Callable[[str], None]


def image_name(instance_id: str) -> str:
    """Docker repository name for an instance (lower case, only allowed characters)."""
    return "dgm-env-" + re.sub(r"[^a-z0-9_.-]+", "-", instance_id.lower()).strip("-.")


def _source_files(source_dir: Path) -> tuple[dict[str, Path], list[str]]:
    """Regular files under source_dir (relative posix path -> path) and the executable ones."""
    files: dict[str, Path] = {}
    executables: list[str] = []
    if not source_dir.is_dir():
        raise BenchError(f"recipe source {source_dir} is not a directory")
    for root, dirs, names in os.walk(source_dir):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_NAMES)
        for name in sorted(names):
            path = Path(root) / name
            if name.endswith(".pyc") or path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(source_dir).as_posix()
            files[rel] = path
            if os.access(path, os.X_OK):
                executables.append(rel)
    return files, executables


def dockerfile_for(recipe: EnvRecipe) -> str:
    """The Dockerfile text (sandbox/env/Dockerfile with the recipe's environment)."""
    env = {"PATH": f"{VENV}/bin:{BASE_PATH}", "VIRTUAL_ENV": VENV, **recipe.env}
    env_line = " ".join(f"{k}={json.dumps(str(v))}" for k, v in env.items())
    return (RECIPE_DIR / "Dockerfile").read_text().replace("{env}", env_line)


def build_inputs(recipe: EnvRecipe) -> tuple[str, dict[str, bytes | str | Path]]:
    """Dockerfile and context files of a recipe; the image tag is a hash of both.

    Nothing instance-specific goes in, so tasks over the same source and recipe reuse
    every cached layer.
    """
    repo_files, executables = _source_files(Path(recipe.source_dir))
    files: dict[str, bytes | str | Path] = {f"build/repo/{rel}": p for rel, p in repo_files.items()}
    wheels = sorted(Path(recipe.wheels_dir).glob("*.whl")) if recipe.wheels_dir else []
    if recipe.requirements and not wheels:
        raise BenchError(f"{recipe.instance_id}: requirements given but no wheels in {recipe.wheels_dir}")
    for wheel in wheels:
        files[f"build/wheels/{wheel.name}"] = wheel
    files["build/setup.sh"] = RECIPE_DIR / "setup.sh"
    files["build/requirements.txt"] = "".join(r + "\n" for r in recipe.requirements)
    files["build/executables.txt"] = "".join(e + "\n" for e in executables)
    files["build/install.sh"] = recipe.install_cmd + "\n"
    files["build/recipe.json"] = json.dumps(
        {"suite": recipe.suite, "requirements": recipe.requirements,
         "install_cmd": recipe.install_cmd, "env": recipe.env}, indent=1, sort_keys=True)
    return dockerfile_for(recipe), files


def build_environment(recipe: EnvRecipe, *, progress: Progress | None = None,
                      name: str | None = None) -> str:
    """Tag of the recipe's environment image, built if missing (cached by content hash)."""
    from dgm.sandbox.images import ensure_base_image, ensure_image

    base = ensure_base_image(recipe.suite, progress=progress)
    dockerfile, files = build_inputs(recipe)
    return ensure_image(name or image_name(recipe.instance_id), None, dockerfile,
                        base=base, files=files, progress=progress or (lambda line: None))
