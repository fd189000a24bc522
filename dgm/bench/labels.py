"""What a resolve rate is a rate of: instances rebuilt from releases are not the official environments."""

from __future__ import annotations

from typing import Iterable

from dgm.bench.store import TaskEnvironment

REBUILT_LITE = "SWE-bench Lite (rebuilt from releases)"
REBUILT = "SWE-bench (rebuilt from releases)"


def rate_label(envs: Iterable[TaskEnvironment]) -> str:
    """REBUILT_LITE when every environment was rebuilt from a release and every id is a Lite row
    (the release map lists all 300), REBUILT when only the first holds, "" otherwise."""
    from dgm.bench.pypi.release_map import load_release_map

    envs = list(envs)
    if not envs or not all(isinstance(e.notes, dict) and e.notes.get("sdist") for e in envs):
        return ""
    lite = load_release_map()
    return REBUILT_LITE if all(e.instance_id in lite for e in envs) else REBUILT
