"""Outcomes on disk: per-node artifacts (RUN/artifacts/<node>/...) and the cache's stored form."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from dgm.evolve.items import AgentOutcome, CheckOutcome, EvalOutcome

LOG_CAP = 1_000_000


def write_text(path: Path, text: str) -> None:
    """Write atomically (a killed run leaves the old file or the new one, never half of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def write_agent(directory: Path, agent: AgentOutcome) -> None:
    """trajectory.json, patch.diff, agent.log and run.json of one agent run, unless the engine wrote them."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "run.json").exists() and (directory / "patch.diff").exists():
        return
    if agent.trajectory is not None:
        write_json(directory / "trajectory.json", agent.trajectory)
    write_text(directory / "patch.diff", agent.patch)
    write_text(directory / "agent.log", agent.log[-LOG_CAP:])
    write_json(directory / "run.json", {"status": agent.status, "usage": agent.usage,
                                        "seconds": round(agent.seconds, 3), "error": agent.error})


def write_eval(directory: Path, outcome: EvalOutcome) -> None:
    """An agent run on a task plus its grading: eval.log and report.json next to the agent files."""
    write_agent(directory, outcome.agent)
    if outcome.graded:
        write_text(directory / "eval.log", outcome.eval_log)
        write_json(directory / "report.json", {"resolved": outcome.resolved, "patch_applied": outcome.patch_applied,
                                               "tests_status": outcome.tests_status, "report": outcome.report,
                                               "error": outcome.error})
    if outcome.wider is not None:
        write_json(directory / "wider.json", outcome.wider)


def write_check(directory: Path, outcome: CheckOutcome) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write_text(directory / "compile.log", outcome.compile_log)
    write_text(directory / "tests.log", outcome.tests_log)
    write_json(directory / "check.json", {"compiled": outcome.compiled, "tests_passed": outcome.tests_passed,
                                          "seconds": round(outcome.seconds, 3), "error": outcome.error})


def stored(outcome: EvalOutcome | CheckOutcome) -> dict:
    """The cache's form of an outcome: everything but the trajectory (kept as an artifact)."""
    if isinstance(outcome, EvalOutcome):  # dropped before asdict, which would deep-copy it first
        data = asdict(replace(outcome, agent=replace(outcome.agent, trajectory=None)))
        data["kind"] = "eval"
    else:
        data = asdict(outcome)
        data["kind"] = "check"
    return data


def restored(data: dict) -> EvalOutcome | CheckOutcome:
    data = dict(data)
    kind = data.pop("kind")
    if kind == "check":
        return CheckOutcome(**data)
    agent = AgentOutcome(**data.pop("agent"))
    return EvalOutcome(agent=agent, **data)


def copy_artifacts(source: Path | None, dest: Path) -> None:
    """Copy a cached evaluation's artifacts (regular files only) into this node's folder."""
    if source is None or not source.is_dir() or source.resolve() == dest.resolve():
        return
    for path in source.rglob("*"):
        if path.is_file() and not path.is_symlink():
            target = dest / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
