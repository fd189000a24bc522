"""SWE-bench predictions files and grading a whole file into the harness's output layout."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from dgm.bench.grading import EvalResult
from dgm.bench.instances import TaskInstance
from dgm.bench.store import BenchStore
from dgm.errors import BadInput, DgmError

KEYS = ("instance_id", "model_name_or_path", "model_patch")


@dataclass
class Prediction:
    instance_id: str
    model_name_or_path: str
    model_patch: str | None


def write_predictions(path: Path, predictions: Iterable[Prediction]) -> Path:
    """A predictions JSONL file (one {instance_id, model_name_or_path, model_patch} per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for p in predictions:
            out.write(json.dumps({k: getattr(p, k) for k in KEYS}) + "\n")
    return path


def read_predictions(path: Path) -> list[Prediction]:
    """Predictions from JSONL, or JSON (a list, or a dict keyed by instance id as the harness accepts)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such predictions file")
    text = path.read_text(encoding="utf-8")
    rows: list[tuple[str, object]] = []
    if path.suffix == ".json" or text.lstrip().startswith(("[", "{\n")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
        items = data.values() if isinstance(data, dict) else data
        rows = [(f"{path} row {i}", r) for i, r in enumerate(items)]
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((f"{path} line {lineno}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise BadInput(f"{path} line {lineno}: not valid JSON ({exc.msg})") from None
    out: list[Prediction] = []
    for where, row in rows:
        if not isinstance(row, dict):
            raise BadInput(f"{where}: a prediction must be a JSON object")
        for key in ("instance_id", "model_patch"):
            if key not in row:
                raise BadInput(f"{where}: missing field '{key}'", hint="predictions need " + ", ".join(KEYS))
        patch = row["model_patch"]
        if patch is not None and not isinstance(patch, str):
            raise BadInput(f"{where}: field 'model_patch' must be a string or null")
        out.append(Prediction(str(row["instance_id"]), str(row.get("model_name_or_path") or "unknown"), patch))
    return out


def grade_predictions(predictions: Sequence[Prediction], instances: Sequence[TaskInstance], store: BenchStore,
                      out_dir: Path, *, run_id: str, jobs: int = 1,
                      progress: Callable[[EvalResult], None] | None = None) -> dict:
    """Grade each prediction; write <out>/<model>/<id>/{report.json,...} and a summary like the harness's."""
    from concurrent.futures import ThreadPoolExecutor

    from dgm.bench.grading import grade, write_result

    by_id = {i.instance_id: i for i in instances}
    unknown = [p.instance_id for p in predictions if p.instance_id not in by_id]
    if unknown:
        raise BadInput(f"predictions for instances not in the dataset: {', '.join(unknown[:5])}")
    envs = {p.instance_id: store.environment(p.instance_id) for p in predictions}
    not_ready = [i for i, e in envs.items() if not e.validated]
    if not_ready:
        raise BadInput(f"instances not validated in {store.path}: {', '.join(not_ready[:5])}",
                       hint="see `dgm bench list`; rebuild with `dgm bench build`")

    def one(p: Prediction) -> EvalResult:
        try:
            result = grade(by_id[p.instance_id], envs[p.instance_id], p.model_patch or "", run_id=run_id,
                           model_name=p.model_name_or_path)
        except DgmError as exc:  # the engine failed this one; the run goes on, the harness calls it an error
            result = EvalResult(p.instance_id, False, False, not (p.model_patch or "").strip(), {},
                                {}, "", 0.0, f"{type(exc).__name__}: {exc}")
        write_result(result, run_dir(out_dir, run_id) / _safe(p.model_name_or_path) / p.instance_id,
                     p.model_patch or "")
        if progress:
            progress(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, predictions))
    summary = summarize(predictions, results)
    model = _safe(predictions[0].model_name_or_path) if predictions else "none"
    path = Path(out_dir) / f"{model}.{run_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=4) + "\n")
    summary["summary_path"] = str(path)
    return summary


def run_dir(out_dir: Path, run_id: str) -> Path:
    """OUT/<run_id>: laid out like the harness's logs/run_evaluation/<run_id>."""
    return Path(out_dir) / run_id


def summarize(predictions: Sequence[Prediction], results: Sequence[EvalResult]) -> dict:
    """The official run summary (swebench.harness.reporting.make_run_report's shape and rules)."""
    def ids(pred: Callable[[EvalResult], bool]) -> list[str]:
        return sorted(r.instance_id for r in results if pred(r))

    def ran(r: EvalResult) -> bool:  # a report.json was written
        return not r.empty_patch and r.patch_applied and not r.error

    empty, resolved = ids(lambda r: r.empty_patch), ids(lambda r: ran(r) and r.resolved)
    unresolved = ids(lambda r: ran(r) and not r.resolved)
    errors = ids(lambda r: not r.empty_patch and not ran(r))
    return {
        "total_instances": len(predictions),
        "submitted_instances": len(predictions),
        "completed_instances": len(resolved) + len(unresolved),
        "resolved_instances": len(resolved),
        "unresolved_instances": len(unresolved),
        "infra_failure_instances": 0,
        "ambiguous_failure_instances": 0,
        "empty_patch_instances": len(empty),
        "error_instances": len(errors),
        "completed_ids": sorted(resolved + unresolved),
        "incomplete_ids": [],
        "empty_patch_ids": empty,
        "submitted_ids": sorted(p.instance_id for p in predictions),
        "resolved_ids": resolved,
        "unresolved_ids": unresolved,
        "infra_failure_ids": [],
        "ambiguous_failure_ids": [],
        "failure_reasons": {},
        "dgm_errors": {r.instance_id: r.error for r in results if r.error and not r.empty_patch},
        "error_ids": errors,
        "schema_version": 2,
    }


def _safe(name: str) -> str:
    # the harness's directory name for a model: "/" becomes "__"
    safe = name.replace("/", "__")
    return safe if safe not in ("", ".", "..") else "model"
