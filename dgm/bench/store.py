"""BenchStore: a directory with manifest.json (built and validated instances) and build logs."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from dgm.errors import BadInput, BenchError
from dgm.locks import file_lock

if TYPE_CHECKING:
    from dgm.bench.instances import TaskInstance

MANIFEST_FORMAT = "dgm-bench-manifest-1"


@dataclass
class TaskEnvironment:
    """A built instance (one manifest row); only status "validated" is used for evaluation."""

    instance_id: str
    image: str
    repo_dir: str = "/testbed"
    test_command: str = ""  # shell, runs in repo_dir; grading frames its log
    log_parser: str = "pytest"  # swebench repo key or parser name
    status: str = "built"  # "validated" | "failed:<reason>" | "built"
    repo: str = ""
    detail: str = ""  # why it failed, naming tests
    notes: dict = field(default_factory=dict)  # recipe provenance, timings
    updated_at: str = ""

    @property
    def validated(self) -> bool:
        return self.status == "validated"

    @property
    def leaks(self) -> bool:
        """The environment still names what only the fix defines (dgm.bench.hints): evolve leaves
        it out of its task sets unless dataset.allow_leaks."""
        hints = self.notes.get("hints") if isinstance(self.notes, dict) else None
        return isinstance(hints, dict) and hints.get("leaks") is True

    @property
    def reason(self) -> str:
        """The failure reason ("" unless status is failed:<reason>)."""
        return self.status.split(":", 1)[1] if self.status.startswith("failed:") else ""

    @classmethod
    def from_row(cls, row: dict) -> "TaskEnvironment":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in row.items() if k in known})


def default_store_dir() -> Path:
    from dgm.home import dgm_home

    return dgm_home() / "bench"


class BenchStore:
    """Manifest rows by instance id; writes are atomic and serialized across threads and processes."""

    _thread_lock = threading.Lock()

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else default_store_dir()
        self.path.mkdir(parents=True, exist_ok=True)
        self.manifest_path = self.path / "manifest.json"

    # ---- reading -----------------------------------------------------------------------
    def _read(self) -> dict[str, dict]:
        if not self.manifest_path.is_file():
            return {}
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise BenchError(f"{self.manifest_path} is not valid JSON ({exc.msg})",
                             hint="rebuild with `dgm bench build`") from None
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise BenchError(f"{self.manifest_path} is not a dgm bench manifest")
        return dict(data.get("instances", {}))

    def environments(self, status: str | None = None) -> list[TaskEnvironment]:
        """All rows, sorted by id; `status` filters ("validated", or "failed" for any failure)."""
        rows = [TaskEnvironment.from_row(r) for _, r in sorted(self._read().items())]
        if status:
            rows = [r for r in rows if r.status == status or r.status.startswith(status + ":")]
        return rows

    def environment(self, instance_id: str) -> TaskEnvironment:
        """The manifest row of one instance (BadInput if it was never built here)."""
        row = self._read().get(instance_id)
        if row is None:
            raise BadInput(f"instance {instance_id} is not in {self.manifest_path}",
                           hint="build it first: dgm bench build --dataset FILE --instance " + instance_id)
        return TaskEnvironment.from_row(row)

    def get(self, instance_id: str) -> TaskEnvironment | None:
        row = self._read().get(instance_id)
        return TaskEnvironment.from_row(row) if row else None

    # ---- writing -----------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        with self._thread_lock, file_lock(self.path / ".manifest.lock"):
            yield

    def put(self, env: TaskEnvironment) -> None:
        """Insert or replace one row (read-modify-write under the lock, atomic rename)."""
        env.updated_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._locked():
            rows = self._read()
            rows[env.instance_id] = asdict(env)
            payload = {"format": MANIFEST_FORMAT, "instances": dict(sorted(rows.items()))}
            fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".manifest.", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(payload, out, indent=1, sort_keys=False)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.manifest_path)

    # ---- per-instance files ------------------------------------------------------------
    def log_dir(self, instance_id: str) -> Path:
        """logs/<id>/: build.log, before.log, gold.log."""
        path = self.path / "logs" / instance_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save_instance(self, instance: "TaskInstance") -> None:
        """Keep the dataset row next to the manifest, so validate and grade need no dataset file."""
        row = instance.to_row()
        if instance.source_file:
            row["_dgm_file"] = str(instance.source_file)
        path = self.path / "instances" / f"{instance.instance_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(row, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)

    def instance(self, instance_id: str) -> "TaskInstance":
        """The dataset row saved when the instance was built."""
        from dgm.bench.instances import instance_from_row

        path = self.path / "instances" / f"{instance_id}.json"
        if not path.is_file():
            raise BadInput(f"instance {instance_id} has no saved row in {self.path}",
                           hint="pass --dataset FILE, or build it with `dgm bench build`")
        return instance_from_row(json.loads(path.read_text(encoding="utf-8")), str(path))

    def work_dir(self, instance_id: str) -> Path:
        """work/<id>/: scratch space a recipe may use on the host (sources, downloads)."""
        path = self.path / "work" / instance_id
        path.mkdir(parents=True, exist_ok=True)
        return path
