"""Which release of a project to rebuild an instance from: the shipped map, or a search of the index."""

from __future__ import annotations

import json
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import dgm
from dgm.bench.pypi.releases import download_sdist, project_for, release_files
from dgm.bench.pypi.reverse import check_both, unpack
from dgm.errors import BenchError

RELEASE_MAP = Path(dgm.__file__).resolve().parent.parent / "datasets" / "lite_release_map.jsonl"


# The release map's verdicts, worded for the build table.
_NO_RELEASE = {
    "patch_only": "no release takes the test patch in reverse (the gold patch does)",
    "test_only": "no release takes the gold patch in reverse (the test patch does)",
    "none": "no release takes either patch in reverse",
}


@lru_cache(maxsize=4)
def load_release_map(path: Path = RELEASE_MAP) -> dict[str, dict]:
    """instance_id -> map row (`release`, `status`, ...); empty when the file is absent."""
    if not path.exists():
        return {}
    rows = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["instance_id"]] = row
    return rows


def _series(project: str, version: str) -> list[str]:
    """Final releases of the `version` series and of the next minor series, oldest first."""
    from packaging.version import InvalidVersion, Version

    found = set()
    for f in release_files(project):
        name = f.filename
        for suffix in (".tar.gz", ".zip"):
            if name.endswith(suffix):
                found.add(name[: -len(suffix)].rpartition("-")[2])
    try:
        base = Version(version)
    except InvalidVersion:
        return []
    nxt = (base.major, base.minor + 1)
    out = []
    for v in found:
        try:
            pv = Version(v)
        except InvalidVersion:
            continue
        if not pv.is_prerelease and (pv.major, pv.minor) in ((base.major, base.minor), nxt):
            out.append(pv)
    return [str(v) for v in sorted(out)]


def search_release(repo: str, version: str, gold_patch: str, test_patch: str,
                   *, limit: int = 6) -> str:
    """The first release (of the task's series and the next) that takes both patches in reverse."""
    project = project_for(repo)
    candidates = _series(project, version)[:limit]
    if not candidates:
        raise BenchError(f"{repo} {version}: no release of that series on the package index")
    scratch = Path(tempfile.mkdtemp(prefix="dgm-release-search-"))
    try:
        for release in candidates:
            tree = unpack(download_sdist(project, release), scratch / release)
            if check_both(tree, gold_patch, test_patch) is None:
                return release
            shutil.rmtree(tree, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    raise BenchError(f"no release among {', '.join(candidates)} takes both patches in reverse")


def release_for(instance_id: str, repo: str, version: str, gold_patch: str, test_patch: str,
                *, override: str | None = None) -> tuple[str, str, int | None]:
    """(release, how it was chosen, context lines git needs or None for all); the map's verdict
    is final for instances it lists."""
    if override:
        return override, "given", None
    row = load_release_map().get(instance_id)
    if row is not None:
        if row.get("release"):
            return row["release"], "release map", None
        if row.get("ext_wide_window_release"):
            return row["ext_wide_window_release"], "release map (wider window)", None
        if row.get("ext_reduced_context_C1_release"):
            # Reversing with one line of context works, but grading applies the test patch
            # with full context and would fail on the drifted lines.
            raise BenchError("the patches reverse only with reduced context (the test patch "
                             "would not apply when grading)")
        raise BenchError(_NO_RELEASE.get(row.get("status"), "no release takes both patches in reverse"))
    return search_release(repo, version, gold_patch, test_patch), "index search", None
