"""The manifest: rows survive, concurrent writers do not lose each other's rows, bad files are named."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from dgm.bench.store import BenchStore, TaskEnvironment
from dgm.errors import BadInput, BenchError


def test_rows_round_trip_and_filter(tmp_path):
    store = BenchStore(tmp_path / "s")
    store.put(TaskEnvironment("a", "img:1", test_command="pytest", status="validated", repo="o/r"))
    store.put(TaskEnvironment("b", "", status="failed:build", repo="o/r", detail="no wheel"))
    again = BenchStore(tmp_path / "s")
    assert again.environment("a").validated and again.environment("a").test_command == "pytest"
    assert again.environment("b").reason == "build"
    assert [e.instance_id for e in again.environments("failed")] == ["b"]
    assert [e.instance_id for e in again.environments("validated")] == ["a"]
    data = json.loads((tmp_path / "s" / "manifest.json").read_text())
    assert data["format"] == "dgm-bench-manifest-1" and set(data["instances"]) == {"a", "b"}
    with pytest.raises(BadInput, match="instance zzz is not in"):
        again.environment("zzz")


def test_parallel_writers_keep_every_row(tmp_path):
    store = BenchStore(tmp_path)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: BenchStore(tmp_path).put(TaskEnvironment(f"i{i}", f"img:{i}")), range(40)))
    assert len(store.environments()) == 40
    assert not list(tmp_path.glob(".manifest.*.tmp"))


def test_a_corrupt_manifest_is_named(tmp_path):
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(BenchError, match="manifest.json is not valid JSON"):
        BenchStore(tmp_path).environments()
