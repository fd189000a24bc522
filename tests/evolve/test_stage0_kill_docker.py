"""Stage 0 stopped from outside is an engine failure, not the child's own tests failing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dgm.evolve.items import BoxLimits, CheckItem
from dgm.evolve.stages import run_check

pytestmark = pytest.mark.docker

SEED = Path(__file__).resolve().parents[2] / "agents_archive" / "seed"


class Context:
    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def agent_image(self) -> str:
        from dgm.agent.images import ensure_agent_image

        return ensure_agent_image()


def kill_when_running(run_id: str, stop: threading.Event) -> None:
    import docker

    client = docker.from_env()
    while not stop.is_set():
        for container in client.containers.list(filters={"label": f"dgm.run={run_id}"}):
            if "sleep-marker" in container.top().get("Processes", [[""]]).__str__():
                container.kill()
                return
        time.sleep(0.2)


def test_a_check_killed_from_outside_is_an_error_and_one_that_fails_is_not(run_id: str) -> None:
    box = BoxLimits(memory_mb=512, cpus=1.0, pids=128)
    stop = threading.Event()
    killer = threading.Thread(target=kill_when_running, args=(run_id, stop), daemon=True)
    killer.start()
    try:
        killed = run_check(CheckItem("1", SEED, "sleep 60 # sleep-marker", box, timeout=120), Context(run_id))
    finally:
        stop.set()
        killer.join(timeout=30)
    assert killed.error and "stopped from outside" in killed.error, killed
    # the tests killing themselves (exit 137 inside a live sandbox) are the child's own failure
    failed = run_check(CheckItem("2", SEED, "kill -9 $$", box, timeout=120), Context(run_id))
    assert failed.error is None and failed.compiled and not failed.tests_passed
