"""A real archive (git + SQLite through the Archive API), `dgm serve` as a real process, real Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests import terminal_payloads

REPO = Path(__file__).resolve().parents[2]

# What a hostile agent or model might leave in a record: markup, script, and terminal controls.
MARKUP = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'
HOSTILE = MARKUP + " " + terminal_payloads.HOSTILE

SEED = '"""A tiny agent."""\n\ndef main():\n    print("hello")\n'
TASKS = ["toy__calc-1", "toy__calc-2"]


def write_tree(path: Path, body: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "agent.py").write_text(body)
    return path


def trajectory(instance_id: str, steps: int) -> dict:
    return {"format": "dgm-trajectory-1", "instance_id": instance_id, "status": "submitted", "reason": "",
            "messages": [{"role": "system", "content": "You fix issues."}, {"role": "user", "content": "Fix it."}],
            "steps": [{"i": k + 1, "tool_calls": [{"id": f"c{k}", "name": "bash",
                                                   "arguments": json.dumps({"command": f"echo step-{k + 1}"})}],
                       "outputs": [f"output of step {k + 1}"], "seconds": 0.5} for k in range(steps)],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5}}


def add_child(archive, work: Path, parent: str, name: str, line: str, *, status: str, resolved: list[bool],
              diagnosis: dict | None = None, task: str = "Do better.") -> str:
    """A child of `parent` whose agent.py gains `line`, with results and a trajectory per task."""
    body = SEED + f"    {line}\n"
    node = archive.add_node(parent, write_tree(work / name, body), status="pending",
                            diagnosis=diagnosis or {"failure": "it gives up early"}, improvement_task=task,
                            meta={"iteration": int(name.strip("n") or 0)})
    art = archive.artifacts_dir(node.id)
    for iid, ok in zip(TASKS, resolved):
        archive.record_result(node.id, iid, {"resolved": ok, "empty_patch": False, "stage": 1})
        (art / "tasks" / iid).mkdir(parents=True, exist_ok=True)
        (art / "tasks" / iid / "trajectory.json").write_text(json.dumps(trajectory(iid, 3)))
    archive.update_node(node.id, status=status)
    return node.id


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A seed (score 0.5) and one admitted child (1.0) whose record carries hostile text."""
    from dgm.archive import Archive

    run = tmp_path / "run"
    with Archive.create(run, write_tree(tmp_path / "seed", SEED)) as archive:
        for iid, ok in zip(TASKS, [True, False]):
            archive.record_result("0", iid, {"resolved": ok, "empty_patch": False, "stage": 1})
        add_child(archive, tmp_path, "0", "n1", "retry = 3", status="admitted", resolved=[True, True],
                  diagnosis={"failure": "gives up", "evidence": HOSTILE}, task=HOSTILE)
    return run


class Served:
    """A `dgm serve` process: its URL (with the token), base URL and token."""

    def __init__(self, proc: subprocess.Popen, url: str) -> None:
        self.proc = proc
        self.url = url
        self.base = url.split("?", 1)[0]
        self.token = url.split("token=", 1)[1]


@pytest.fixture
def serve() -> Iterator:
    procs: list[subprocess.Popen] = []

    def start(run_dir: Path, *extra: str) -> Served:
        proc = subprocess.Popen([sys.executable, "-m", "dgm", "serve", str(run_dir), "--port", "0", *extra],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        procs.append(proc)
        line = proc.stdout.readline()
        assert "token=" in line, line + proc.stderr.read()
        return Served(proc, line.split(" at ", 1)[1].strip())

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(predicate, timeout: float = 15.0, what: str = "the condition"):
    """Poll until `predicate()` is truthy; its value, or a failure naming `what`."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # the element may not exist yet
            last = exc
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}" + (f" ({last})" if last else ""))
