"""Classic rows on official images, pulled from a real registry (Debian's docker-registry).

A toy task's environment image, given the official images' layout (a conda-style `testbed`
environment under /opt/miniconda3), is pushed to a registry on 127.0.0.1 under the name the
SWE-bench harness derives for a classic row of a small dataset; `dgm bench build` must pull
it from there, validate it, and `dgm bench grade` must resolve the gold patch and not the
empty one. With the registry stopped, `--official` must fail in one line naming the image.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import pytest

from dgm.cli import main

from .registry import BINARY, Registry

pytestmark = [pytest.mark.docker,
              pytest.mark.skipif(not Path(BINARY).exists(), reason="needs Debian's docker-registry")]

ROW_ID = "dgm-registry-test__calc-1"
LABEL = "dgm.test-official-registry"
# An official image keeps the task's environment in conda's `testbed`; the stand-in points it at
# the toy image's venv, so the eval script the harness writes (`source .../activate`, `conda
# activate testbed`, `pytest -rA FILES`) runs as it would in a real one; the repository is
# importable from the environment, as the harness's editable install makes it.
CONDA_LAYOUT = """FROM {base}
USER root
RUN mkdir -p /opt/miniconda3/bin /opt/miniconda3/envs \\
 && ln -s /opt/dgm/venv /opt/miniconda3/envs/testbed \\
 && printf '' > /opt/miniconda3/bin/activate \\
 && printf '#!/bin/sh\\nexit 0\\n' > /opt/miniconda3/bin/conda && chmod 755 /opt/miniconda3/bin/conda \\
 && /opt/dgm/venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > /tmp/site \\
 && echo /testbed > "$(cat /tmp/site)/testbed.pth" && rm /tmp/site
"""


def _ours() -> list[str]:
    from dgm.sandbox.engine import docker_client

    return [i.id for i in docker_client().images.list(filters={"label": f"{LABEL}=1"})]


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = Registry(tmp_path_factory.mktemp("registry")).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="module")
def classic(registry, toy_store, toy_instances, tmp_path_factory):
    """The classic row (pallets/flask 2.3's spec: `pytest -rA` on the test patch's files), pushed."""
    from dgm.bench.specs import classic_specs
    from dgm.sandbox.engine import docker_client

    toy = toy_instances["dgm-toy__calc-1"]
    row = {k: v for k, v in toy.to_row().items() if k not in ("dgm_source", "log_parser", "test_command")}
    row.update(instance_id=ROW_ID, repo="pallets/flask", version="2.3")
    data = tmp_path_factory.mktemp("classic") / "classic.jsonl"
    data.write_text(json.dumps(row) + "\n")
    from dgm.bench.instances import load_instances

    instance = load_instances(data)[0]
    namespace = f"{registry.host}/swebench"
    name = classic_specs([instance], namespace=namespace)[ROW_ID].image
    assert name == f"{registry.host}/swebench/sweb.eval.x86_64.dgm-registry-test_1776_calc-1:latest"
    client = docker_client()
    base = toy_store.environment(toy.instance_id).image
    dockerfile = CONDA_LAYOUT.format(base=base).encode()
    client.images.build(fileobj=io.BytesIO(dockerfile), tag=name, rm=True, network_mode="none",
                        labels={LABEL: "1"})
    repo, tag = name.rsplit(":", 1)
    for event in client.api.push(repo, tag=tag, stream=True, decode=True):
        assert "error" not in event, event
    client.images.remove(name)  # only the registry has it now
    yield {"data": data, "namespace": namespace, "image": name, "instance": instance}
    for image in [name, *_ours()]:
        try:
            client.images.remove(image, force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
    for image in client.images.list(name=f"dgm-env-{ROW_ID}-official"):
        client.images.remove(image.id, force=True)


def _manifest(store: Path) -> dict:
    return json.loads((store / "manifest.json").read_text())["instances"]


def test_dry_run_says_what_would_be_pulled(classic, tmp_path, capsys):
    from dgm.bench.pull import registry_size

    size = registry_size(classic["image"])
    assert size > 1_000_000  # the toy image's layers, as the registry lists them
    assert main(["bench", "build", "--dataset", str(classic["data"]), "--store", str(tmp_path), "--official",
                 "--image-namespace", classic["namespace"], "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "official (pull)" in out and f"would pull {size / 1e6:,.0f} MB" in out
    assert not (tmp_path / "manifest.json").exists()


def test_classic_row_is_pulled_validated_and_graded(classic, tmp_path, capsys):
    from dgm.bench.store import BenchStore
    from dgm.sandbox.engine import image_exists

    store = tmp_path / "store"
    assert not image_exists(classic["image"])
    assert main(["bench", "build", "--dataset", str(classic["data"]), "--store", str(store), "--official",
                 "--image-namespace", classic["namespace"]]) == 0
    row = _manifest(store)[ROW_ID]
    assert row["status"] == "validated", row["detail"]
    assert row["notes"]["environment"] == "official" and row["notes"]["official_source"] == "pulled"
    assert row["notes"]["official_image"] == classic["image"] and row["notes"]["spec"] == "specs"
    assert row["notes"]["image_bytes"] > 0 and row["notes"]["pull_seconds"] > 0
    assert "pytest -rA tests/test_arith.py" in row["test_command"]
    assert "pip install" not in row["test_command"]  # the spec's reinstall is left out (no network)
    assert image_exists(classic["image"])
    build_log = (store / "logs" / ROW_ID / "build.log").read_text()
    assert f"pulling {classic['image']}" in build_log and "layers" in build_log
    capsys.readouterr()
    assert main(["bench", "list", "--store", str(store), "--json"]) == 0
    assert [r["path"] for r in json.loads(capsys.readouterr().out)] == ["official (pulled)"]

    for name, patch, resolved in (("gold", classic["instance"].patch, 1), ("empty", "", 0)):
        preds = tmp_path / f"{name}.jsonl"
        preds.write_text(json.dumps({"instance_id": ROW_ID, "model_name_or_path": name, "model_patch": patch}) + "\n")
        capsys.readouterr()
        assert main(["bench", "grade", "--predictions", str(preds), "--store", str(store), "--json",
                     "--run-id", f"{name}-{uuid.uuid4().hex[:6]}"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["resolved_instances"] == resolved, (name, summary)
        assert summary["dgm_environments"] == {ROW_ID: "official (pulled)"}  # the run's record keeps the path

    # The sandboxes over the official image keep every hardening setting.
    from dgm.sandbox.driver import Sandbox
    from dgm.sandbox.engine import docker_client

    env = BenchStore(store).environment(ROW_ID)
    with Sandbox.start(env.image, run_id=f"test-{uuid.uuid4().hex[:8]}") as box:
        status = box.exec("grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; id -u").output.split()
        assert status == ["CapEff:", "0000000000000000", "CapBnd:", "0000000000000000", "NoNewPrivs:", "1", "1000"]
        assert box.exec("touch /etc/x").exit_code != 0 and box.exec("touch /opt/miniconda3/x").exit_code != 0
        host = docker_client().api.inspect_container(box.id)["HostConfig"]
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"]
        assert host["PidsLimit"] > 0 and host["Memory"] > 0
        assert box.exec("git -C /testbed status --porcelain").output == ""  # the seed, untouched


def test_official_with_the_registry_down_is_one_line_naming_the_image(classic, registry, tmp_path, capsys):
    from dgm.sandbox.engine import docker_client, image_exists

    if image_exists(classic["image"]):
        docker_client().images.remove(classic["image"], force=True)
    registry.stop()
    try:
        code = main(["bench", "build", "--dataset", str(classic["data"]), "--store", str(tmp_path), "--official",
                     "--image-namespace", classic["namespace"]])
        err = capsys.readouterr().err.strip()
        assert code == 2
        assert len(err.splitlines()) == 1, err
        assert classic["image"] in err and registry.host in err
        # auto would take the offline rebuild instead
        code = main(["bench", "build", "--dataset", str(classic["data"]), "--store", str(tmp_path / "auto"),
                     "--image-namespace", classic["namespace"], "--dry-run"])
        assert code == 0 and "rebuild" in capsys.readouterr().out
    finally:
        registry.start()
