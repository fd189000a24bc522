"""Helpers for the sandbox room's tests (fixtures `base_image` and `run_id` come from tests/)."""

from __future__ import annotations

import pytest

from dgm.sandbox.driver import Limits, Sandbox


def assert_next_sandbox_works(image: str, run_id: str) -> None:
    """After an attack, a fresh sandbox still starts and runs a command normally."""
    with Sandbox.start(image, run_id=run_id, limits=Limits(wall_seconds=120)) as box:
        res = box.exec("echo next-ok && python3 -c 'print(6*7)'")
        assert res.ok, res
        assert res.output.split() == ["next-ok", "42"]


@pytest.fixture
def small() -> Limits:
    """Tight limits so attacks hit them quickly."""
    return Limits(memory_mb=256, pids=64, cpus=1.0, wall_seconds=300, exec_seconds=60,
                  output_bytes=100_000, tmp_mb=64, disk_mb=64)


@pytest.fixture(params=["docker", "podman", "bwrap"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test using it runs on every backend this machine has (skipped, with the reason, where it lacks one)."""
    from dgm.sandbox.backends import ENV, missing

    why = missing(request.param)
    if why is not None:
        pytest.skip(f"backend {request.param} not on this machine: {why}")
    monkeypatch.setenv(ENV, request.param)
    return request.param
