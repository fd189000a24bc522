"""Images as directories for bubblewrap: each image unpacked once, from the engine that built it.

The directory is keyed by the image's id, so a rebuilt image is a new directory; a finished
unpack is marked complete, and parallel processes unpack once (a file lock). Each sandbox holds
a shared lock on its image's use file while it runs (and touches it: the last use), so
`dgm sandbox prune` removes only unpacked images no sandbox is using: those whose image the
engine no longer has, and, with `--bwrap-keep N`, all but the N most recently used.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

from dgm.errors import SandboxError
from dgm.home import dgm_home
from dgm.sandbox.locks import build_lock
from dgm.sandbox.runtime import RELAY_MOUNT, WORK_DIRS

COMPLETE = "complete.json"


def unpacked_image(image: str) -> tuple[Path, dict, int]:
    """(root directory, image config, use lock) of IMAGE unpacked for bubblewrap; unpacks on first
    use. The use lock is a descriptor holding a shared lock that keeps prune away: close it when
    the sandbox is gone."""
    import docker

    from dgm.sandbox.engine import engine_client, image_engine

    try:
        info = engine_client(image_engine()).api.inspect_image(image)
    except docker.errors.ImageNotFound as exc:
        raise SandboxError(f"image {image} not found", hint="run `dgm sandbox build`") from exc
    base = _home() / info["Id"].split(":")[-1][:16]
    done = base / COMPLETE
    use = _use_lock(base.name, fcntl.LOCK_SH)
    try:
        if done.is_file():
            return base / "root", json.loads(done.read_text()), use
        with build_lock(f"bwrap-{base.name}"):
            if done.is_file():
                return base / "root", json.loads(done.read_text()), use
            _remove(base)
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
            return base / "root", meta, use
    except BaseException:
        os.close(use)
        raise


def _home() -> Path:
    return dgm_home() / "bwrap"


def _use_lock(name: str, how: int) -> int:
    """A descriptor of NAME's use file locked HOW (shared: a sandbox uses it, its time the last
    use; exclusive: prune). Outside the image's directory, so removing that never races it."""
    path = dgm_home() / "locks" / f"bwrap-use-{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, how)
        if how == fcntl.LOCK_SH:
            os.utime(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def prune_unpacked(keep: int | None = None) -> list[tuple[str, int]]:
    """Remove unpacked images no sandbox uses: those whose image the engine no longer has (all,
    when it cannot be asked: no), unfinished unpacks, and all but the KEEP most recently used.
    Returns (name, bytes) of each removed."""
    home = _home()
    if not home.is_dir():
        return []
    try:
        from dgm.sandbox.engine import engine_client, image_engine

        known: set[str] | None = {i.split(":")[-1][:16] for i in engine_client(image_engine()).api.images(quiet=True)}
    except Exception:  # noqa: BLE001 - no engine to ask: keep what might still be used
        known = None
    lock_dir = dgm_home() / "locks"

    def last_use(d: Path) -> float:
        try:
            return (lock_dir / f"bwrap-use-{d.name}.lock").stat().st_mtime
        except OSError:
            return (d / COMPLETE).stat().st_mtime if (d / COMPLETE).exists() else 0.0

    dirs = sorted((d for d in home.iterdir() if d.is_dir() and not d.is_symlink()), key=last_use, reverse=True)
    complete = [d for d in dirs if (d / COMPLETE).is_file()]
    removed = []
    for d in dirs:
        stale = known is not None and d.name not in known
        beyond = keep is not None and d in complete and complete.index(d) >= keep
        if not (stale or beyond or d not in complete):
            continue
        with build_lock(f"bwrap-{d.name}"):  # no unpack of it under way
            try:
                use = _use_lock(d.name, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a sandbox runs from it
            try:
                size = _size(d)
                (d / COMPLETE).unlink(missing_ok=True)  # first: a half-removed tree is never used
                _remove(d)
                removed.append((d.name, size))
            finally:
                os.close(use)
    return removed


def _size(d: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(d):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total


def _remove(d: Path) -> None:
    """Remove D's tree, also where the image has directories without write permission."""
    def writable(func, path, _exc) -> None:  # noqa: ANN001 - shutil's onerror signature
        parent = os.path.dirname(path)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        func(path)

    if d.exists():
        shutil.rmtree(d, onerror=writable)


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
