"""A compiled project end to end: astropy__astropy-14995 rebuilt from astropy 5.3.1, its C extensions
built by a compiler that is in the image (Debian's build-essential), never on the host."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dgm.bench.instances import load_instances

LITE = Path(__file__).resolve().parents[3] / "datasets" / "swebench_lite.jsonl"
INSTANCE = "astropy__astropy-14995"  # the smallest compiled row the release map calls rebuildable

pytestmark = pytest.mark.docker


def test_astropy_builds_with_a_compiler_in_the_image_and_validates(tmp_path: Path) -> None:
    from dgm.bench.build import build_instance
    from dgm.bench.store import BenchStore
    from dgm.sandbox.driver import sweep

    inst = load_instances(LITE, ids=[INSTANCE])[0]
    try:
        env = build_instance(inst, BenchStore(tmp_path), run_id="test-compiled-astropy")
    finally:
        sweep(run_id="test-compiled-astropy")
    assert env.status == "validated", (env.status, env.detail)
    assert env.notes["release"] == "5.3.1" and env.log_parser == "astropy/astropy"
    # The extension modules were compiled in the image, by the image's gcc.
    out = subprocess.run(["docker", "run", "--rm", "--network", "none", env.image, "bash", "-lc",
                          "gcc --version | head -1; cd /opt/dgm/seed/testbed && "
                          "ls astropy/time/_parse_times*.so astropy/utils/_compiler*.so | wc -l"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0].startswith("gcc") and int(out[1]) == 2
