"""Bench fixtures: the toy tasks built and validated once per session in a temporary store."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TOY = REPO_ROOT / "datasets" / "toy" / "toy.jsonl"


@pytest.fixture(scope="session")
def toy_instances():
    from dgm.bench.instances import load_instances

    return {i.instance_id: i for i in load_instances(TOY)}


@pytest.fixture(scope="session")
def toy_store(base_image, tmp_path_factory, toy_instances):
    """A BenchStore with every toy task built and validated (images are cached across runs)."""
    from dgm.bench.build import build_many
    from dgm.bench.store import BenchStore
    from dgm.sandbox.driver import sweep

    store = BenchStore(tmp_path_factory.mktemp("bench-store"))
    run_id = f"test-bench-{uuid.uuid4().hex[:8]}"
    try:
        build_many(list(toy_instances.values()), store, run_id=run_id)
    finally:
        sweep(run_id=run_id)
    return store
