"""Held-out tasks: never used for selection or admission; the seed and the best agent are evaluated on
them at the end of a run, and their results kept apart from the scores (node.meta["heldout"])."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from dgm.errors import ConfigError

META_KEY = "heldout"


def heldout_ids(spec: Any, order: Sequence[str], stages: Sequence[Sequence[str]], dataset: str = "") -> list[str]:
    """The held-out ids of dataset.heldout (ids, a count taken from the end of the dataset among the
    tasks in no stage, or a file of ids); ConfigError naming an id unknown or also in a stage."""
    in_stage = {iid for ids in stages for iid in ids}
    if spec in (None, "", 0, []):
        return []
    if isinstance(spec, bool):
        raise ConfigError(f"dataset.heldout = {spec!r} is not ids, a count or a file",
                          hint="give a list of instance ids, a number of tasks, or a file of ids")
    if isinstance(spec, int):
        free = [iid for iid in order if iid not in in_stage]
        if spec < 0 or spec > len(free):
            raise ConfigError(f"dataset.heldout = {spec}: only {len(free)} task(s) of {dataset or 'the dataset'} "
                              "are in no stage", hint="hold out fewer tasks or use smaller stages")
        return free[len(free) - spec:]
    if isinstance(spec, str):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise ConfigError(f"dataset.heldout = {spec!r}: no such file of instance ids",
                              hint="give a file with one instance id per line, a list of ids, or a count")
        ids = [line.strip() for line in path.read_text(errors="replace").splitlines()
               if line.strip() and not line.startswith("#")]
    else:
        ids = [str(x) for x in spec]
    known = set(order)
    for iid in ids:
        if iid not in known:
            raise ConfigError(f"dataset.heldout: instance id {iid!r} is not in {dataset or 'the dataset'}",
                              hint="held-out ids must be tasks of dataset.path")
        if iid in in_stage:
            raise ConfigError(f"dataset.heldout: instance id {iid!r} is also in a stage",
                              hint="a held-out task may not be used for selection or admission")
    return list(dict.fromkeys(ids))


def check(config: Any, instances: dict[str, Any], stages: Sequence[Sequence[str]]) -> list[str]:
    """Validate dataset.heldout against the loaded dataset and the stages (called when tasks are planned)."""
    return heldout_ids(config.dataset.heldout, list(instances), stages, config.dataset.path)


def scores(node: Any) -> dict:
    """{"resolved", "evaluated", "score"} of a node's held-out results ({} when it has none)."""
    results = (node.meta or {}).get(META_KEY) or {}
    if not isinstance(results, dict) or not results:
        return {}
    hit = sum(1 for r in results.values() if isinstance(r, dict) and r.get("resolved"))
    return {"resolved": hit, "evaluated": len(results), "score": hit / len(results)}
