"""Who makes a task's EnvRecipe: a plain table from the kind of source a row names to its maker."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from dgm.bench.instances import TaskInstance
from dgm.bench.local_source import local_recipe
from dgm.bench.pypi import recipe_for_release
from dgm.bench.recipe import EnvRecipe

Maker = Callable[[TaskInstance, Path], EnvRecipe]
# "local": a directory shipped with the dataset (the toy tasks); "pypi": a real instance rebuilt
# from the release that contains its fix (every row that names no source).
MAKERS: dict[str, Maker] = {"local": local_recipe, "pypi": recipe_for_release}


def recipe_for(instance: TaskInstance, workdir: Path) -> EnvRecipe:
    """A recipe for INSTANCE from the maker its `dgm_source` names (PyPI when it names none)."""
    source = instance.extra.get("dgm_source")
    kind = source.get("kind") if isinstance(source, dict) else None
    return MAKERS[kind if kind in MAKERS else "pypi"](instance, workdir)
