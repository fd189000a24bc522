"""Environment images: an EnvRecipe becomes `dgm-env-<id>:<hash>`, built with no network.

Every task image follows one convention: a venv at /opt/dgm/venv first on PATH (the
agent's `python3` and the tests both use it), and the repository at /opt/dgm/seed/testbed as
a git repository whose single commit is the task's base, which the sandbox driver copies into
a writable /testbed when a container starts.

Two images per task, so that tasks of one release share what is big: the *release
environment* `dgm-release-<key>:<hash>` (venv, the release's tree installed at /testbed, its
files staged in git but never committed) and the *instance* image on top of it, a thin layer
with the files in which the task's before state differs from the release, the base commit,
and nothing of the release's versions of those files (unreachable objects are pruned).
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import time
from dataclasses import dataclass
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
    """The release environment's Dockerfile (sandbox/env/Dockerfile with the recipe's environment)."""
    env = {"PATH": f"{VENV}/bin:{BASE_PATH}", "VIRTUAL_ENV": VENV, **recipe.env}
    env_line = " ".join(f"{k}={json.dumps(str(v))}" for k, v in env.items())
    return (RECIPE_DIR / "Dockerfile").read_text().replace("{env}", env_line)


# Files whose change alters what the install builds: an instance that changes one of them gets
# an environment installed from its own tree, not the release's.
BUILD_FILES = {"setup.py", "setup.cfg", "pyproject.toml"}
BUILD_SUFFIXES = (".pyx", ".pxd", ".pxi", ".c", ".h", ".cpp", ".cc", ".f", ".f90")


@dataclass
class TreeDiff:
    """How an instance's before-state tree differs from its release's tree."""

    changed: list[str]  # in the instance, new or different (content or executable bit)
    deleted: list[str]  # in the release only (files)
    deleted_dirs: list[str]  # directories that hold files in the release only
    executables: list[str]  # among `changed`, the executable ones

    @property
    def touches_build(self) -> bool:
        return any(Path(rel).name in BUILD_FILES or rel.endswith(BUILD_SUFFIXES)
                   for rel in [*self.changed, *self.deleted])


def tree_diff(release_dir: Path, source_dir: Path) -> TreeDiff:
    """Compare two plain trees as the image sees them (regular files, executable bits)."""
    old, old_exec = _source_files(release_dir)
    new, new_exec = _source_files(source_dir)
    old_x, new_x = set(old_exec), set(new_exec)
    changed = [rel for rel, path in new.items()
               if rel not in old or (rel in old_x) != (rel in new_x)
               or not filecmp.cmp(old[rel], path, shallow=False)]
    deleted = [rel for rel in old if rel not in new]
    dirs_new = {p for rel in new for p in Path(rel).parents if str(p) != "."}
    dirs_gone = {p for rel in deleted for p in Path(rel).parents if str(p) != "." and p not in dirs_new}
    # Only the outermost: removing it removes what is under it.
    outer = sorted(d.as_posix() for d in dirs_gone if not any(q in dirs_gone for q in d.parents))
    return TreeDiff(sorted(changed), sorted(deleted), outer, sorted(r for r in changed if r in new_x))


def release_tree(recipe: EnvRecipe) -> tuple[Path, TreeDiff | None]:
    """The tree the release environment installs, and the instance's difference from it (None when
    the environment is installed from the instance's own tree)."""
    source = Path(recipe.source_dir)
    if recipe.release_dir is None or Path(recipe.release_dir).resolve() == source.resolve():
        return source, None
    diff = tree_diff(Path(recipe.release_dir), source)
    if diff.touches_build:
        return source, None
    return Path(recipe.release_dir), diff


def environment_inputs(recipe: EnvRecipe, tree: Path) -> tuple[str, dict[str, bytes | str | Path]]:
    """Dockerfile and context of the release environment: venv, TREE installed, staged in git.

    Nothing instance-specific goes in, so every instance of a release shares this image.
    """
    repo_files, executables = _source_files(tree)
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


# The instance layer's one step: instance.sh, run once in a container of the release environment
# with the files of instance_inputs under /opt/dgm (images.ensure_layer).
INSTANCE_COMMAND = ("bash", "/opt/dgm/build/instance.sh")


def instance_inputs(recipe: EnvRecipe, diff: TreeDiff | None) -> dict[str, bytes | str | Path]:
    """Files of the instance layer, put under /opt/dgm: the changed files, what to delete, the script."""
    files: dict[str, bytes | str | Path] = {"build/instance.sh": RECIPE_DIR / "instance.sh"}
    if diff is not None:
        source = Path(recipe.source_dir)
        for rel in diff.changed:
            files[f"build/changed/{rel}"] = source / rel
        files["build/changed.txt"] = "".join(r + "\n" for r in diff.changed)
        files["build/deleted.txt"] = "".join(r + "\n" for r in [*diff.deleted_dirs, *diff.deleted])
        files["build/executables.txt"] = "".join(r + "\n" for r in diff.executables)
    return files


def build_inputs(recipe: EnvRecipe) -> tuple[str, dict[str, bytes | str | Path]]:
    """The release environment's Dockerfile and context (see environment_inputs)."""
    tree, _diff = release_tree(recipe)
    return environment_inputs(recipe, tree)


def environment_name(recipe: EnvRecipe) -> str:
    """Docker repository name of the recipe's release environment."""
    key = recipe.environment_key or recipe.instance_id
    return "dgm-release-" + re.sub(r"[^a-z0-9_.-]+", "-", key.lower()).strip("-.")


def build_environment(recipe: EnvRecipe, *, progress: Progress | None = None,
                      name: str | None = None, record: dict | None = None) -> str:
    """Tag of the recipe's instance image, built if missing (both images cached by content hash).

    The release environment is built first, or found: every instance of a release shares it.
    RECORD, when given, gets the environment's tag, how long each image took and whether the
    environment was already there.
    """
    from dgm.sandbox.images import ensure_base_image, ensure_image, ensure_layer

    log = progress or (lambda line: None)
    base = ensure_base_image(recipe.suite, extra_packages=recipe.debian_packages, progress=progress)
    tree, diff = release_tree(recipe)
    dockerfile, files = environment_inputs(recipe, tree)
    had = _tags_of(environment_name(recipe)) if record is not None else set()
    started = time.monotonic()
    environment = ensure_image(environment_name(recipe), None, dockerfile, base=base, files=files, progress=log)
    env_seconds = time.monotonic() - started
    log(f"environment {environment}" + (" (installed from this instance's tree)" if diff is None else
        f"; instance layer: {len(diff.changed)} changed, {len(diff.deleted)} deleted files"))
    tag = name or image_name(recipe.instance_id)
    started = time.monotonic()
    image = ensure_layer(tag, base=environment, command=INSTANCE_COMMAND, files=instance_inputs(recipe, diff),
                         progress=log)
    if record is not None:
        record.update(environment_image=environment, environment_seconds=round(env_seconds, 1),
                      instance_seconds=round(time.monotonic() - started, 1),
                      environment_reused=environment in had, shared_release_tree=diff is not None)
    return image


def _tags_of(repository: str) -> set[str]:
    from dgm.sandbox.engine import engine_client, image_engine

    return {t for img in engine_client(image_engine()).images.list(name=repository) for t in img.tags}


def layer_costs(image: str, environment: str) -> dict:
    """Sizes (bytes, uncompressed) of IMAGE, of its release ENVIRONMENT, and what IMAGE adds on top;
    `shares_environment` when IMAGE's layers start with all of ENVIRONMENT's (by layer id)."""
    from dgm.sandbox.engine import engine_client, image_engine

    images = engine_client(image_engine()).images
    top, below = images.get(image).attrs, images.get(environment).attrs
    layers, env_layers = top["RootFS"]["Layers"], below["RootFS"]["Layers"]
    size, env_size = int(top.get("Size") or 0), int(below.get("Size") or 0)
    return {"image_bytes": size, "environment_bytes": env_size, "instance_layer_bytes": size - env_size,
            "shares_environment": layers[:len(env_layers)] == env_layers}
