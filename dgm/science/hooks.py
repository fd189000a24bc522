"""The loop's two calls into the instruments: one per child verdict. Each is a function of the archive
and its artifacts, so the loop only says when."""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Sequence

from dgm.science import diversity, verifiers

DIVERSITY_FILE = "science/diversity.jsonl"


def admission_verifiers(archive: Any, node_id: str, instances: Mapping[str, Any] | None = None,
                        gating: Sequence[str] = ()) -> list:
    """Run every named verifier on a decided child and record them in artifacts/<id>/verifiers.json
    (GATING: the names of the admission gate's verifiers, marked as such)."""
    node = archive.get(node_id)
    row = verifiers.verdicts(archive, node, verifiers.facts_of(instances or {}))
    verifiers.write(archive.artifacts_dir(node_id) / "verifiers.json", row, gating)
    return row


def on_admission(archive: Any, node_id: str, log: Callable[[str], None]) -> diversity.Snapshot:
    """After an admission: the archive's diversity, appended to RUN/science/diversity.jsonl; the collapse
    alarm goes to the log (and so to the live view)."""
    nodes = archive.nodes()
    snaps = diversity.history(nodes)
    snap = snaps[-1] if snaps else diversity.snapshot(nodes, node_id)
    path = archive.path / DIVERSITY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(snap.to_dict()) + "\n")
    p = snap.pass_at
    log(f"diversity after node {node_id}: pass@1 {_f(p.get('1'))}, pass@all {_f(p.get('all'))}, "
        f"coverage {_f(snap.coverage)}, distinct solved sets {snap.distinct}")
    if snap.alarm:
        k = diversity.alarm_k(snaps[-diversity.WINDOW].admitted)
        log(f"collapse alarm: over the last {diversity.WINDOW} admissions pass@1 rose while pass@{k} fell")
    return snap


def on_verdict(archive: Any, node_id: str, admitted: bool, instances: Mapping[str, Any] | None,
               log: Callable[[str], None], gating: Sequence[str] = ()) -> None:
    """The single call the loop makes when a child is admitted or rejected after evaluation.

    Instruments observe the run; a failure in one is logged and never stops the loop."""
    try:
        admission_verifiers(archive, node_id, instances, gating)
        if admitted:
            on_admission(archive, node_id, log)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log(f"instruments failed on node {node_id}: {type(exc).__name__}: {str(exc)[:200]}")


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
