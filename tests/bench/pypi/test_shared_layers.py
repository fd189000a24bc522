"""Shared layers on a real pair: flask-4992 and flask-5063, both rebuilt from Flask 2.3.0, share one
release environment; each adds only a thin layer holding its own before state."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from dgm.bench.instances import load_instances

LITE = Path(__file__).resolve().parents[3] / "datasets" / "swebench_lite.jsonl"
FIRST, SECOND = "pallets__flask-4992", "pallets__flask-5063"

pytestmark = pytest.mark.docker


def _blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _in_image(image: str, script: str) -> str:
    return subprocess.run(["docker", "run", "--rm", "--network", "none", "--user", "1000:1000", image,
                           "bash", "-lc", f"cd /opt/dgm/seed/testbed && {script}"],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    from dgm.bench.build import build_instance
    from dgm.bench.store import BenchStore
    from dgm.sandbox.driver import sweep

    first, second = load_instances(LITE, ids=[FIRST, SECOND])
    store = BenchStore(tmp_path_factory.mktemp("bench"))
    try:
        # The first is validated by test_flask_end_to_end; the second, whose image is the thin
        # layer alone, is validated here.
        a = build_instance(first, store, run_id="test-shared-layers", validate_it=False)
        b = build_instance(second, store, run_id="test-shared-layers")
    finally:
        sweep(run_id="test-shared-layers")
    return store, first, second, a, b


def test_the_second_instance_shares_the_first_ones_environment_layers(pair) -> None:
    from dgm.sandbox.engine import docker_client

    _store, _first, _second, a, b = pair
    assert a.status == "built" and b.status == "validated", (a.detail, b.detail)
    env_image = a.notes["layers"]["environment_image"]
    assert env_image.startswith("dgm-release-flask-2.3.0-py3.11:")
    assert b.notes["layers"]["environment_image"] == env_image
    assert a.image != b.image
    images = docker_client().images
    env_layers = images.get(env_image).attrs["RootFS"]["Layers"]
    for image in (a.image, b.image):
        layers = images.get(image).attrs["RootFS"]["Layers"]
        assert layers[:len(env_layers)] == env_layers and len(layers) > len(env_layers)
    assert b.notes["layers"]["shares_environment"] and b.notes["layers"]["shared_release_tree"]
    assert b.notes["layers"]["instance_layer_bytes"] < 60_000_000  # the disk target


def test_the_thin_layer_holds_the_before_state_and_nothing_of_the_fix(pair) -> None:
    from dgm.bench.pypi.recipe import release_tree
    from dgm.bench.pypi.releases import download_sdist

    store, _first, second, _a, b = pair
    release = release_tree(download_sdist(b.notes["project"], b.notes["release"]))
    # src/flask/cli.py is the file the gold patch changes: the release has the fix, the image must not.
    fixed = (release / "src/flask/cli.py").read_bytes()
    before = (store.work_dir(second.instance_id) / "source" / "src/flask/cli.py").read_bytes()
    assert fixed != before
    out = _in_image(b.image, "git status --porcelain | wc -l; git cat-file --batch-all-objects --batch-check | wc -l; "
                             "git rev-list --objects --all | wc -l; git rev-parse HEAD:src/flask/cli.py; "
                             f"git cat-file -e {_blob_sha(fixed)} && echo FIX-PRESENT || echo fix-absent; "
                             "stat -c %u . src/flask/cli.py .git/index").split()
    dirty, objects, reachable, cli_blob, fix = out[:5]
    assert dirty == "0" and objects == reachable  # nothing unreachable: the release's blobs are pruned
    assert cli_blob == _blob_sha(before) and fix == "fix-absent"
    assert out[5:] == ["1000", "1000", "1000"]
