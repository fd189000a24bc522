"""A second start on a live run directory is refused and touches nothing; a SIGKILLed run frees it.

The task model is a scripted server in this test process whose answers wait on a gate: while it is
closed the first run sits in a sandbox waiting on the model, so its containers certainly exist while
the second start is tried.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dgm.archive import Archive
from dgm.llm.script import Script
from dgm.llm.scripted import ScriptedModelServer
from dgm.locks import run_holder
from tests.evolve.test_evolve_docker import CONFIG, REPO, containers_of, evolve, finish, fsck_clean, run_id

pytestmark = pytest.mark.docker


@pytest.fixture
def gated_model():
    """(server, gate): the demo script behind a gate that holds every answer until it is set."""
    script = Script.load(CONFIG.parent / "offline-demo-script.json")
    gate = threading.Event()

    def answer(request: dict):
        gate.wait(300)
        return script.reply_for(request)

    server = ScriptedModelServer(answer).start()
    yield server, gate
    gate.set()
    server.stop()


def second_start(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LITELLM_OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "dgm.evolve", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=240)


def test_a_second_start_is_refused_and_the_live_run_is_untouched(tmp_path: Path, gated_model) -> None:
    server, gate = gated_model
    store, run_dir = tmp_path / "store", tmp_path / "run"
    task_model = ['models.task.scripted=""', 'models.task.model="openai/scripted"',
                  f'models.task.api_base="{server.url}"']
    first = evolve(run_dir, store, "evolve.iterations=1", "dataset.stages=[1]", *task_model, start_new_session=True)
    try:
        deadline = time.monotonic() + 400
        while not (server.requests and (run_dir / "run.json").exists() and containers_of(run_id(run_dir))):
            assert first.poll() is None, first.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the first run never reached the model from a sandbox"
            time.sleep(0.2)
        rid = run_id(run_dir)
        boxes = {c.id for c in containers_of(rid)}
        for args in (["--resume", str(run_dir)],
                     [str(CONFIG), "-c", f'run.dir="{run_dir}"', "-c", f'dataset.store="{store}"']):
            out = second_start(*args)
            assert out.returncode == 2, out.stdout + out.stderr
            lines = out.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("dgm: error: run directory"), out.stderr
            assert f"in use by dgm process {first.pid} (dgm evolve)" in lines[0]
            assert {c.id for c in containers_of(rid)} >= boxes  # not one of the live run's sandboxes removed
        assert all(c.status == "running" for c in containers_of(rid) if c.id in boxes)
        gate.set()
        finish(first)
    finally:
        gate.set()
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.communicate()
    with Archive.open(run_dir) as archive:
        statuses = {(n.meta.get("iteration"), n.meta.get("slot")): n.status for n in archive.nodes() if n.id != "0"}
    assert statuses == {(1, 1): "admitted", (1, 2): "rejected:does not compile"}  # the good child was kept
    log = (run_dir / "log.txt").read_text()
    assert log.count("starting run") == 1 and "resuming run" not in log and "run finished" in log
    fsck_clean(run_dir)

    # A run killed by SIGKILL leaves the lock to the kernel: the next --resume takes it at once.
    gate.clear()
    killed = evolve(run_dir, store, "evolve.iterations=2", resume=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while (holder := run_holder(run_dir)) is None or holder.pid != killed.pid:
            assert killed.poll() is None, killed.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the resumed run never took the lock"
            time.sleep(0.05)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.communicate()
    finally:
        gate.set()
        if killed.poll() is None:
            killed.kill()
            killed.communicate()
    out = second_start("--resume", str(run_dir))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "resuming run" in out.stdout and "run finished" in out.stdout
    assert run_holder(run_dir) is None
    fsck_clean(run_dir)
