"""TaskInstance (SWE-bench's schema) and loading them from JSON/JSONL files or a hub dataset."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterable, Sequence

from dgm.errors import BadInput, BenchError

REQUIRED = ("instance_id", "repo", "patch", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS")
STRINGS = ("instance_id", "repo", "version", "base_commit", "problem_statement", "patch",
           "test_patch", "hints_text", "created_at", "environment_setup_commit")
TEST_LISTS = ("FAIL_TO_PASS", "PASS_TO_PASS")


@dataclass
class TaskInstance:
    """One SWE-bench task; fields the schema does not name are kept in `extra`."""

    instance_id: str
    repo: str
    version: str
    base_commit: str
    problem_statement: str
    patch: str
    test_patch: str
    FAIL_TO_PASS: list[str]
    PASS_TO_PASS: list[str]
    hints_text: str = ""
    created_at: str = ""
    environment_setup_commit: str = ""
    extra: dict = field(default_factory=dict)

    def to_row(self) -> dict:
        """The SWE-bench row (test lists as JSON strings, as the datasets store them)."""
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        for key in TEST_LISTS:
            row[key] = json.dumps(row[key])
        row.update({k: v for k, v in self.extra.items() if not k.startswith("_dgm")})
        return row

    @property
    def source_file(self) -> Path | None:
        """The file the row was read from (relative sources resolve against its folder)."""
        where = self.extra.get("_dgm_file")
        return Path(where) if where else None


def instance_from_row(row: object, where: str) -> TaskInstance:
    """Validate one row; `where` ("FILE line N") names it in errors."""
    if not isinstance(row, dict):
        raise BadInput(f"{where}: a row must be a JSON object, got {type(row).__name__}")
    for key in REQUIRED:
        if key not in row:
            raise BadInput(f"{where}: missing field '{key}'", hint="SWE-bench rows need " + ", ".join(REQUIRED))
    values: dict = {}
    for key in STRINGS:
        value = row.get(key, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise BadInput(f"{where}: field '{key}' must be a string, got {type(value).__name__}")
        values[key] = value
    if not values["instance_id"]:
        raise BadInput(f"{where}: field 'instance_id' is empty")
    for key in TEST_LISTS:
        values[key] = _test_list(row[key], f"{where}: field '{key}'")
    extra = {k: v for k, v in row.items() if k not in values}
    return TaskInstance(**values, extra=extra)


def _test_list(value: object, what: str) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{what} is not a JSON list of test names ({exc.msg})") from None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise BadInput(f"{what} must be a list of test names (strings)")
    return list(value)


def read_rows(path: Path) -> list[TaskInstance]:
    """All instances in a .json (a list of rows) or .jsonl file (a row per line)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such dataset file", hint="pass a SWE-bench .json or .jsonl file")
    text = path.read_text(encoding="utf-8")
    out: list[TaskInstance] = []
    stripped = text.lstrip()
    if path.suffix == ".json" or stripped.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(rows, list):
            raise BadInput(f"{path}: a .json dataset must be a list of rows")
        for i, row in enumerate(rows):
            out.append(_tag(instance_from_row(row, f"{path} row {i}"), path))
    else:
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInput(f"{path} line {lineno}: not valid JSON ({exc.msg})") from None
            out.append(_tag(instance_from_row(row, f"{path} line {lineno}"), path))
    seen: set[str] = set()
    for inst in out:
        if inst.instance_id in seen:
            raise BadInput(f"{path}: instance id '{inst.instance_id}' appears twice")
        seen.add(inst.instance_id)
    return out


def _tag(inst: TaskInstance, path: Path) -> TaskInstance:
    inst.extra["_dgm_file"] = str(path.resolve())
    return inst


def parse_slice(text: str) -> slice:
    """"A:B", "A:", ":B" → a slice; BadInput otherwise."""
    parts = text.split(":")
    try:
        if len(parts) != 2:
            raise ValueError
        start, stop = (int(p) if p.strip() else None for p in parts)
    except ValueError:
        raise BadInput(f"slice '{text}' is not START:STOP", hint="e.g. --slice 0:10") from None
    return slice(start, stop)


def read_subset(path: Path) -> list[str]:
    """A subset file: a JSON list of instance ids."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such subset file")
    try:
        ids = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise BadInput(f"{path}: a subset file must be a JSON list of instance ids")
    return ids


def select(instances: Sequence[TaskInstance], *, ids: Iterable[str] | None = None,
           repos: Iterable[str] | None = None, subset: Sequence[str] | None = None,
           slice_: slice | str | None = None, source: str = "dataset") -> list[TaskInstance]:
    """Filter by ids / subset (in the order given), repos, then slice."""
    by_id = {i.instance_id: i for i in instances}
    chosen = list(instances)
    for wanted, what in ((list(ids) if ids else None, "--instance"), (subset, "subset")):
        if wanted is None:
            continue
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise BadInput(f"unknown instance id(s) in {what}: {', '.join(missing[:5])}"
                           + (f" (+{len(missing) - 5} more)" if len(missing) > 5 else ""),
                           hint=f"{source} has no such rows")
        keep = set(wanted)
        chosen = [i for i in chosen if i.instance_id in keep]
    if repos:
        repos = list(repos)
        known = {i.repo for i in instances}
        unknown = [r for r in repos if r not in known]
        if unknown:
            raise BadInput(f"unknown repo(s): {', '.join(unknown)}", hint=f"{source} has {', '.join(sorted(known))}")
        chosen = [i for i in chosen if i.repo in set(repos)]
    if slice_ is not None:
        chosen = chosen[parse_slice(slice_) if isinstance(slice_, str) else slice_]
    return chosen


def load_instances(path: Path | str, *, ids: Iterable[str] | None = None,
                   repos: Iterable[str] | None = None, subset_file: Path | None = None,
                   slice_: slice | str | None = None) -> list[TaskInstance]:
    """Instances from a file (or a hub dataset name when a hub is reachable), then selected."""
    if isinstance(path, str) and not Path(path).exists() and _looks_like_dataset_name(path):
        instances = _from_hub(path)
        source = path
    else:
        instances = read_rows(Path(path))
        source = str(path)
    subset = read_subset(subset_file) if subset_file else None
    return select(instances, ids=ids, repos=repos, subset=subset, slice_=slice_, source=source)


def _looks_like_dataset_name(name: str) -> bool:
    return name.count("/") == 1 and not name.endswith((".json", ".jsonl")) and not name.startswith((".", "/"))


def _from_hub(name: str, split: str = "test") -> list[TaskInstance]:
    """A Hugging Face dataset; offline (HF_HUB_OFFLINE or no network) asks for a file instead."""
    import os

    hint = "no dataset hub is reachable; pass a .json/.jsonl file (e.g. datasets/swebench_lite.jsonl)"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise BenchError(f"dataset '{name}' needs the Hugging Face hub", hint=hint)
    try:
        import datasets  # heavy; only for hub names
        rows = datasets.load_dataset(name, split=split)
    except Exception as exc:  # any hub/network failure means: use a file
        raise BenchError(f"dataset '{name}' could not be loaded ({type(exc).__name__})", hint=hint) from None
    return [instance_from_row(dict(r), f"{name} row {i}") for i, r in enumerate(rows)]
