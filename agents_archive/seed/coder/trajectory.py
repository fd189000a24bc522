"""The run's record, rewritten atomically after every step so a killed run still leaves it."""

from __future__ import annotations

import datetime
import json
import os
from typing import Any, Dict, List

FORMAT = "dgm-trajectory-1"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(path: str, data: Any) -> None:
    """Write JSON through a temporary file and a rename: readers never see half a file."""
    tmp = "%s.tmp%d" % (path, os.getpid())
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, default=str)
    os.replace(tmp, path)


class Trajectory:
    """Messages, steps, usage and outcome of one run; `save()` writes trajectory.json."""

    def __init__(self, out_dir: str, instance_id: str, messages: List[Dict[str, Any]]) -> None:
        self.path = os.path.join(out_dir, "trajectory.json")
        self.data: Dict[str, Any] = {
            "format": FORMAT, "instance_id": instance_id, "messages": messages, "steps": [],
            "usage": {}, "status": "running", "reason": "", "started_at": now(), "finished_at": None}

    def add_step(self, step: Dict[str, Any]) -> None:
        self.data["steps"].append(step)

    def finish(self, status: str, reason: str) -> None:
        self.data.update(status=status, reason=reason, finished_at=now())

    def save(self, usage: Dict[str, Any]) -> None:
        self.data["usage"] = dict(usage)
        write_json(self.path, self.data)
