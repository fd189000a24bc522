"""A sweep by run id removes ours and the dead's containers, never a live process's (real containers)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dgm.cli import main
from dgm.sandbox.driver import Sandbox, sweep
from dgm.sandbox.engine import docker_client

pytestmark = pytest.mark.docker


def _ids(run_id: str) -> set[str]:
    return {c["Id"] for c in docker_client().api.containers(all=True, filters={"label": f"dgm.run={run_id}"})}


def _start_in_process(image: str, run_id: str, *, stay: bool) -> tuple[subprocess.Popen, str]:
    """Another dgm process starts a sandbox of RUN_ID; it stays alive (until stdin closes) or dies at once."""
    code = ("import os, sys\n"
            "from dgm.sandbox.driver import Sandbox\n"
            f"box = Sandbox.start({image!r}, run_id={run_id!r})\n"
            "print(box.id, flush=True)\n"
            + ("sys.stdin.read()\n" if stay else "") + "os._exit(0)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def test_sweep_of_a_run_spares_a_live_process_and_unjudgeable_owners(base_image: str, run_id: str) -> None:
    live_proc, live = _start_in_process(base_image, run_id, stay=True)
    dead_proc, dead = _start_in_process(base_image, run_id, stay=False)
    dead_proc.wait()
    api = docker_client().api
    elsewhere = api.create_container(base_image, command=["sleep", "300"], labels={
        "dgm": "1", "dgm.run": run_id, "dgm.pid": "1", "dgm.pidstart": "", "dgm.host": "another-host:1"})["Id"]
    try:
        ours = Sandbox.start(base_image, run_id=run_id)
        # (Any dgm process on this host, this one's first start included, may remove the dead one first.)
        assert _ids(run_id) - {dead} == {live, elsewhere, ours.id}
        sweep(run_id)
        assert _ids(run_id) == {live, elsewhere}  # ours and the dead process's are gone
        assert api.inspect_container(live)["State"]["Running"]
        assert sweep(None) == 0  # the default sweep spares them too
        # The operator's explicit, forced prune of the run removes everything.
        assert main(["sandbox", "prune", "--run", run_id, "--force"]) == 0
        assert _ids(run_id) == set()
    finally:
        live_proc.stdin.close()
        live_proc.wait()
        if elsewhere in _ids(run_id):  # no process of ours would ever sweep it
            api.remove_container(elsewhere, force=True)


def test_prune_of_a_run_keeps_a_live_process_containers(base_image: str, run_id: str, capsys) -> None:
    live_proc, live = _start_in_process(base_image, run_id, stay=True)
    try:
        assert main(["sandbox", "prune", "--run", run_id]) == 0
        assert "removed 0 sandbox containers" in capsys.readouterr().out
        assert _ids(run_id) == {live}
    finally:
        live_proc.stdin.close()
        live_proc.wait()
    assert main(["sandbox", "prune", "--run", run_id]) == 0  # its process is gone now
    assert _ids(run_id) == set()
    assert main(["sandbox", "prune", "--force"]) == 2  # --force alone would be every run's: refused
