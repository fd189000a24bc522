"""Images as directories for bubblewrap: each image unpacked once, from the engine that built it.

The directory is keyed by the image's id, so a rebuilt image is a new directory; a finished
unpack is marked complete, and parallel processes unpack once (a file lock).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from dgm.errors import SandboxError
from dgm.home import dgm_home
from dgm.sandbox.locks import build_lock
from dgm.sandbox.runtime import RELAY_MOUNT, WORK_DIRS

COMPLETE = "complete.json"


def unpacked_image(image: str) -> tuple[Path, dict]:
    """(root directory, image config) of IMAGE unpacked for bubblewrap; unpacks on first use."""
    import docker

    from dgm.sandbox.engine import engine_client, image_engine

    try:
        info = engine_client(image_engine()).api.inspect_image(image)
    except docker.errors.ImageNotFound as exc:
        raise SandboxError(f"image {image} not found", hint="run `dgm sandbox build`") from exc
    base = dgm_home() / "bwrap" / info["Id"].split(":")[-1][:16]
    done = base / COMPLETE
    if done.is_file():
        return base / "root", json.loads(done.read_text())
    with build_lock(f"bwrap-{base.name}"):
        if done.is_file():
            return base / "root", json.loads(done.read_text())
        shutil.rmtree(base, ignore_errors=True)
        partial = base / "root.partial"
        partial.mkdir(parents=True)
        _export(image, partial)
        # Mount points the sandbox needs inside read-only directories of the image.
        for path in (*WORK_DIRS, RELAY_MOUNT):
            (partial / path.lstrip("/")).mkdir(parents=True, exist_ok=True)
        partial.rename(base / "root")
        config = info.get("Config") or {}
        meta = {"image": image, "env": config.get("Env") or [], "workdir": config.get("WorkingDir") or "/"}
        done.write_text(json.dumps(meta))
        # The sandbox account reaches the tree through file descriptors, not through DGM_HOME.
        return base / "root", meta


def _export(image: str, dest: Path) -> None:
    """`docker export` (or Podman's) of a never-started container of IMAGE, extracted by tar into DEST."""
    from dgm.sandbox.engine import engine_client, image_engine

    api = engine_client(image_engine()).api
    created = api.create_container(image, command=["true"], labels={"dgm": "1", "dgm.run": "unpack"},
                                   network_disabled=True)
    try:
        owners = ["--numeric-owner"] if os.geteuid() == 0 else ["--no-same-owner"]
        tar = subprocess.Popen(["tar", "-x", "-f", "-", "-C", str(dest), "--exclude=dev/*", *owners],
                               stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert tar.stdin is not None
        try:
            for chunk in api.export(created["Id"], chunk_size=1 << 20):
                tar.stdin.write(chunk)
        finally:
            tar.stdin.close()
        err = tar.stderr.read().decode(errors="replace") if tar.stderr else ""
        if tar.wait() != 0:
            raise SandboxError(f"unpacking {image} for bubblewrap failed: {err[-500:]}")
    finally:
        api.remove_container(created["Id"], force=True)
