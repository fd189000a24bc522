"""`dgm sandbox run|prune|build` and `dgm doctor` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dgm.sandbox.driver import Sandbox
from dgm.sandbox.engine import docker_client

pytestmark = pytest.mark.docker


def dgm(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dgm", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_run_prints_output_and_mirrors_the_exit_code(base_image: str) -> None:
    res = dgm("sandbox", "run", "--image", base_image, "--", "echo hi; id -un; exit 3")
    assert res.returncode == 3
    assert res.stdout == "hi\nagent\n"
    assert "[sandbox] exit 3" in res.stderr
    res = dgm("sandbox", "run", "--image", base_image, "--env", "X=1", "--", "python3", "-c",
              "import os; print(os.environ['X'])")
    assert (res.returncode, res.stdout) == (0, "1\n")


def test_run_reports_timeout_and_oom(base_image: str) -> None:
    res = dgm("sandbox", "run", "--image", base_image, "--timeout", "2", "--", "sleep", "60")
    assert res.returncode == 124 and "timed out" in res.stderr
    res = dgm("sandbox", "run", "--image", base_image, "--memory-mb", "128", "--",
              "python3 -c 'x = bytearray(1 << 30)'")
    assert res.returncode == 137 and "out of memory" in res.stderr


def test_run_rejects_bad_input_in_one_line(base_image: str) -> None:
    res = dgm("sandbox", "run", "--image", base_image, "--mount", "/no/such/dir:/x", "--", "true")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "/no/such/dir" in res.stderr
    res = dgm("sandbox", "run", "--image", base_image)
    assert res.returncode == 2 and "no command" in res.stderr


def test_prune_by_run_id(base_image: str, run_id: str) -> None:
    box = Sandbox.start(base_image, run_id=run_id)
    res = dgm("sandbox", "prune", "--run", run_id)  # this test process is alive: its sandbox stays
    assert res.returncode == 0 and res.stdout.startswith("removed 0 sandbox containers ")
    res = dgm("sandbox", "prune", "--run", run_id, "--force")
    assert res.returncode == 0 and res.stdout.startswith("removed 1 sandbox container ")
    assert docker_client().api.containers(all=True, filters={"label": f"dgm.run={run_id}"}) == []
    box.stop()


def test_build_is_idempotent(base_image: str) -> None:
    res = dgm("sandbox", "build", "--suite", "bookworm")
    assert res.returncode == 0 and res.stdout == f"bookworm: {base_image}\n"


def test_doctor_green_and_red(base_image: str) -> None:
    res = dgm("doctor")
    assert res.returncode == 0, res.stdout
    assert f"ok   base image {base_image}" in res.stdout and "test sandbox (docker) ran python3" in res.stdout
    assert "sk-" not in res.stdout
    # No Docker engine and no other backend (no account for the daemonless ones): not ready.
    res = dgm("doctor", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock", "DGM_SANDBOX_USER": "no-such-dgm-user"})
    assert res.returncode == 1
    assert "FAIL Docker engine" in res.stdout and "fix: start the Docker daemon" in res.stdout


def test_doctor_without_docker_is_ready_on_podman(base_image: str) -> None:
    from dgm.sandbox.backends import missing
    from dgm.sandbox.podman import ensure_podman_image

    if missing("podman") is not None:
        pytest.skip(f"backend podman not on this machine: {missing('podman')}")
    ensure_podman_image(base_image)
    res = dgm("doctor", env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert res.returncode == 0, res.stdout
    assert "warn Docker engine" in res.stdout and "rootless Podman builds and keeps the images" in res.stdout
    assert f"ok   base image {base_image}" in res.stdout and "test sandbox (podman) ran python3" in res.stdout
