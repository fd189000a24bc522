"""Images built on this machine: base contents, offline layered builds, caching, wheels."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pytest

from dgm.errors import ImageBuildError
from dgm.sandbox.driver import Sandbox
from dgm.sandbox.engine import docker_client
from dgm.sandbox import images
from dgm.sandbox.images import base_image_tag, ensure_base_image, ensure_image, ensure_layer, fetch_wheels
from dgm.sandbox.mirror import debian_mirror

pytestmark = pytest.mark.docker


def test_base_image_is_tagged_by_its_recipe(base_image: str, run_id: str) -> None:
    assert base_image == base_image_tag("bookworm") == ensure_base_image("bookworm")
    assert base_image_tag("bookworm", extra_packages=["make"]) != base_image
    labels = docker_client().images.get(base_image).labels
    assert labels["dgm.recipe"] == base_image
    with Sandbox.start(base_image, run_id=run_id) as box:
        res = box.exec("python3 -V; git --version; getent passwd agent | cut -d: -f3,6; "
                       "ls -d /testbed /io /agent /run/dgm /opt/dgm/seed")
        out = res.output.split()
        assert out[:2] == ["Python", "3.11.2"] or (out[0] == "Python" and out[1].startswith("3.11"))
        assert "1000:/home/agent" in out and "/opt/dgm/seed" in out


def test_layer_builds_offline_and_is_cached(base_image: str, run_id: str) -> None:
    dockerfile = "COPY hello.py /ctx/hello.py\nRUN python3 /ctx/hello.py > /greeting\n"
    files = {"hello.py": "print('built offline')\n"}
    tag = ensure_image("dgm-test-layer", None, dockerfile, base=base_image, files=files)
    assert ensure_image("dgm-test-layer", None, dockerfile, base=base_image, files=files) == tag
    changed = {"hello.py": "print('changed')\n"}
    assert ensure_image("dgm-test-layer", None, dockerfile, base=base_image, files=changed) != tag
    with Sandbox.start(tag, run_id=run_id) as box:
        assert box.exec("cat /greeting").output == "built offline\n"


def test_run_steps_have_no_network(base_image: str) -> None:
    host = urlparse(debian_mirror()).hostname or "localhost"
    ip = socket.gethostbyname(host)
    dockerfile = f"RUN python3 -c \"import socket; socket.create_connection(('{ip}', 80), timeout=5)\"\n"
    with pytest.raises(ImageBuildError, match="Network is unreachable|returned a non-zero code"):
        ensure_image(f"dgm-test-nonet-{uuid.uuid4().hex[:6]}", None, dockerfile, base=base_image)


def test_a_layer_is_one_commit_offline_cached_by_content_and_method(base_image: str, monkeypatch) -> None:
    """ensure_layer: the files are there, the command ran with no network, the image adds exactly one
    layer and keeps the base's command; the tag changes with the files and with the build method."""
    host = urlparse(debian_mirror()).hostname or "localhost"
    ip = socket.gethostbyname(host)
    script = ("set -e; cp /opt/dgm/build/greeting /greeting; rm -rf /opt/dgm/build\n"
              f"python3 -c \"import socket; socket.create_connection(('{ip}', 80), timeout=5)\" "
              "&& echo online > /net || echo offline > /net\n")
    name = f"dgm-test-onelayer-{uuid.uuid4().hex[:6]}"
    files = {"build/greeting": "hello\n", "build/run.sh": script}
    command = ("bash", "/opt/dgm/build/run.sh")
    images_api = docker_client().images
    try:
        tag = ensure_layer(name, base=base_image, command=command, files=files)
        assert ensure_layer(name, base=base_image, command=command, files=files) == tag
        assert ensure_layer(name, base=base_image, command=command, files={**files, "build/greeting": "hi\n"}) != tag
        out = subprocess.run(["docker", "run", "--rm", tag, "cat", "/greeting", "/net"], capture_output=True,
                             text=True, check=True).stdout
        assert out == "hello\noffline\n"
        below, top = images_api.get(base_image).attrs, images_api.get(tag).attrs
        assert top["RootFS"]["Layers"][:-1] == below["RootFS"]["Layers"]  # one layer, on the base's
        assert top["Config"]["Cmd"] == below["Config"]["Cmd"] and top["Config"]["Env"] == below["Config"]["Env"]
        assert top["Config"]["Labels"]["dgm.recipe"] == tag
        monkeypatch.setattr(images, "LAYER_METHOD", images.LAYER_METHOD + " changed")
        assert ensure_layer(name, base=base_image, command=command, files=files) != tag
    finally:
        for image in images_api.list(name=name):
            images_api.remove(image.id, force=True)


def test_a_failing_layer_command_is_a_build_error(base_image: str) -> None:
    name = f"dgm-test-badlayer-{uuid.uuid4().hex[:6]}"
    with pytest.raises(ImageBuildError, match="exited with 3"):
        ensure_layer(name, base=base_image, command=("bash", "-c", "echo trace >&2; exit 3"), files={})
    assert not docker_client().images.list(name=name)


def test_parallel_builds_happen_once(base_image: str, tmp_path: Path) -> None:
    name = f"dgm-test-lock-{uuid.uuid4().hex[:8]}"
    code = (
        "import sys\n"
        "from dgm.sandbox.images import ensure_image\n"
        f"print(ensure_image({name!r}, None, 'RUN echo built > /built\\n', base={base_image!r},"
        " progress=lambda line: print('PROGRESS', line)))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    try:
        tags = {out.strip().splitlines()[-1] for out in outs}
        assert len(tags) == 1 and tags.pop().startswith(name + ":")
        assert sum("PROGRESS building" in out for out in outs) == 1
    finally:
        for image in docker_client().images.list(name=name):
            docker_client().images.remove(image.id, force=True)


def test_fetch_wheels(tmp_path: Path) -> None:
    dest = fetch_wheels(["six==1.16.0"], tmp_path / "wheels", "3.9")
    assert [p.name for p in dest.iterdir()] == ["six-1.16.0-py2.py3-none-any.whl"]
    with pytest.raises(ImageBuildError, match="pip download for python 3.9 failed"):
        fetch_wheels(["six==0.0.1"], tmp_path / "none", "3.9")


def test_bullseye_base_has_python_3_9(run_id: str) -> None:
    image = ensure_base_image("bullseye")  # built by `dgm sandbox build`; on demand otherwise
    assert image.startswith("dgm-base-bullseye:")
    with Sandbox.start(image, run_id=run_id) as box:
        res = box.exec("python3 -c 'import sys; print(sys.version_info[:2])'; id -un; "
                       "python3 -m venv /tmp/v && /tmp/v/bin/python -m pip --version >/dev/null && echo venv-ok")
        assert res.output.split("\n")[:3] == ["(3, 9)", "agent", "venv-ok"], res
