"""Sandbox images, all built on this machine: a debootstrapped base and offline layers on it.

Every image is tagged by a hash of its recipe, so building is idempotent and a changed
recipe means a new tag. Builds hold a file lock so parallel processes build once.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import dgm
from dgm.errors import BadInput, ImageBuildError
from dgm.home import dgm_home
from dgm.sandbox.engine import engine_client, image_engine, image_exists
from dgm.sandbox.locks import build_lock
from dgm.sandbox.rootfs import build_rootfs_tar
from dgm.terminal import inert

Progress = Callable[[str], None]

SUITES: dict[str, str] = {"bookworm": "3.11", "bullseye": "3.9"}  # suite -> its python3
RECIPES = Path(dgm.__file__).resolve().parent.parent / "sandbox"


def _stderr(line: str) -> None:
    print(f"[sandbox] {line}", file=sys.stderr, flush=True)


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()[:12]


def base_packages(extra: Sequence[str] = ()) -> list[str]:
    """The Debian packages of the base image recipe (sandbox/base/packages.txt + extras)."""
    text = (RECIPES / "base" / "packages.txt").read_text()
    names = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    return sorted({n for n in names if n} | set(extra))


def base_image_tag(suite: str = "bookworm", *, extra_packages: Sequence[str] = ()) -> str:
    """The tag the base image for SUITE has under the current recipe (built or not)."""
    rootfs_hash = _digest(suite, *base_packages(extra_packages))
    dockerfile = (RECIPES / "base" / "Dockerfile").read_text()
    return f"dgm-base-{suite}:{_digest(rootfs_hash, dockerfile)}"


def ensure_base_image(
    suite: str = "bookworm", *, extra_packages: Sequence[str] = (), progress: Progress | None = None
) -> str:
    """Tag of the Debian SUITE base image; debootstraps and builds it if missing."""
    if suite not in SUITES:
        raise BadInput(f"unknown Debian suite {suite!r}", hint=f"use one of {', '.join(SUITES)}")
    log = progress or _stderr
    packages = base_packages(extra_packages)
    rootfs_hash = _digest(suite, *packages)
    tag = base_image_tag(suite, extra_packages=extra_packages)
    if image_exists(tag):
        return tag
    with build_lock(f"base-{suite}"):
        if image_exists(tag):  # another process built it while we waited
            return tag
        rootfs_tag = f"dgm-rootfs-{suite}:{rootfs_hash}"
        if not image_exists(rootfs_tag):
            tarball = dgm_home() / "rootfs" / f"{suite}-{rootfs_hash}.tar"
            if not tarball.is_file():
                build_rootfs_tar(suite, packages, tarball, log)
            log(f"importing {tarball.name} as {rootfs_tag}")
            repository, _, rootfs_version = rootfs_tag.partition(":")
            try:
                engine_client(image_engine()).api.import_image_from_file(str(tarball), repository=repository,
                                                           tag=rootfs_version)
            except Exception as exc:  # noqa: BLE001 - any engine failure is a build failure
                raise ImageBuildError(f"importing {tarball} into the engine failed: {exc}") from exc
        dockerfile = (RECIPES / "base" / "Dockerfile").read_text().replace("{rootfs}", rootfs_tag)
        _build(tag, {"Dockerfile": dockerfile.encode()}, {"dgm.image": "1", "dgm.recipe": tag}, log)
        log(f"base image ready: {tag}")
        return tag


def _context_files(context: Path | None, files: Mapping[str, bytes | str | Path] | None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if context is not None:
        context = Path(context)
        if not context.is_dir():
            raise BadInput(f"image context {context} is not a directory")
        for path in sorted(context.rglob("*")):
            if path.is_file() and not path.is_symlink():
                out[path.relative_to(context).as_posix()] = path.read_bytes()
    for name, value in (files or {}).items():
        if isinstance(value, Path):
            value = value.read_bytes()
        out[str(name)] = value.encode() if isinstance(value, str) else value
    return out


def ensure_image(
    name: str,
    context: Path | None,
    dockerfile: str,
    *,
    base: str,
    files: Mapping[str, bytes | str | Path] | None = None,
    progress: Progress | None = None,
) -> str:
    """Tag of an image layered on BASE; its Dockerfile (`FROM {base}`) runs with no network."""
    log = progress or _stderr
    if "{base}" in dockerfile:
        dockerfile = dockerfile.replace("{base}", base)
    elif not any(ln.strip().upper().startswith("FROM ") for ln in dockerfile.splitlines()):
        dockerfile = f"FROM {base}\n{dockerfile}"
    if not image_exists(base):
        raise ImageBuildError(f"base image {base} is missing", hint="run `dgm sandbox build`")
    base_id = engine_client(image_engine()).images.get(base).id
    content = _context_files(context, files)
    content["Dockerfile"] = dockerfile.encode()
    parts: list[bytes | str] = [base_id]
    for rel in sorted(content):
        parts += [rel, content[rel]]
    tag = f"{name}:{_digest(*parts)}"
    if image_exists(tag):
        return tag
    with build_lock(f"image-{tag}"):
        if image_exists(tag):
            return tag
        _build(tag, content, {"dgm.image": "1", "dgm.recipe": tag}, log)
        return tag


def _build(tag: str, content: Mapping[str, bytes], labels: Mapping[str, str], log: Progress) -> None:
    """docker build from an in-memory context, RUN steps without network, streaming progress."""
    buf = io.BytesIO(_tar(content))
    log(f"building {tag} ({buf.getbuffer().nbytes // 1024} KiB context)")
    started = time.monotonic()
    client = engine_client(image_engine())
    tail: list[str] = []
    try:
        for chunk in client.api.build(
            fileobj=buf, custom_context=True, tag=tag, network_mode="none", rm=True,
            forcerm=True, pull=False, labels=dict(labels), decode=True, timeout=3600,
        ):
            if "error" in chunk:
                raise ImageBuildError(
                    f"building {tag} failed: {chunk['error'].strip()}\n" + "".join(tail[-20:])
                )
            text = chunk.get("stream", "")
            if text:
                tail.append(text)
                if text.startswith("Step "):
                    log("  " + text.strip())
    except ImageBuildError:
        raise
    except Exception as exc:  # noqa: BLE001 - engine errors become build errors
        raise ImageBuildError(f"building {tag} failed: {exc}") from exc
    log(f"built {tag} in {time.monotonic() - started:.1f} s")


def _tar(content: Mapping[str, bytes]) -> bytes:
    """CONTENT as an uncompressed tar: root's files, mode 644, mtime 0 (the same bytes every time)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel, data in content.items():
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


LOG_LINES = 200  # of a layer command's output, the last ones go to the log
# Part of every layer's content hash: a layer built another way gets another tag, never the old one.
LAYER_METHOD = "one container, one commit: v1"


def layer_tag(name: str, base_id: str, command: Sequence[str], content: Mapping[str, bytes]) -> str:
    """The tag ensure_layer gives: a hash of the base image's id, the build method, COMMAND and files."""
    parts: list[bytes | str] = [base_id, LAYER_METHOD, *command]
    for rel in sorted(content):
        parts += [rel, content[rel]]
    return f"{name}:{_digest(*parts)}"


def ensure_layer(
    name: str,
    *,
    base: str,
    command: Sequence[str],
    files: Mapping[str, bytes | str | Path],
    dest: str = "/opt/dgm",
    progress: Progress | None = None,
) -> str:
    """Tag of one layer on BASE: FILES put under DEST, COMMAND run once as root with no network,
    the container committed. Cached by content hash like ensure_image.

    Not `docker build`: there every step (COPY, RUN, each LABEL) is a commit of its own, and on
    overlay storage through FUSE a commit costs seconds that grow with the image's tree (Django's
    release: ~3 s each with no file changed). A thin layer on a big image is mostly commits.
    BASE's command and environment stay; BASE must have no entrypoint (no dgm image has one).
    """
    log = progress or _stderr
    if not image_exists(base):
        raise ImageBuildError(f"base image {base} is missing", hint="run `dgm sandbox build`")
    client = engine_client(image_engine())
    content = _context_files(None, files)
    tag = layer_tag(name, client.images.get(base).id, command, content)
    if image_exists(tag):
        return tag
    with build_lock(f"image-{tag}"):
        if image_exists(tag):
            return tag
        log(f"building {tag} ({sum(map(len, content.values())) // 1024} KiB of files)")
        started = time.monotonic()
        _commit_layer(client.api, base, tag, list(command), dest, _tar(content), log)
        log(f"built {tag} in {time.monotonic() - started:.1f} s")
        return tag


def _commit_layer(api, base: str, tag: str, command: list[str], dest: str, archive: bytes, log: Progress) -> None:
    """A container of BASE with no network: ARCHIVE put at DEST, COMMAND run, the container committed
    as TAG (with BASE's command and the dgm labels); the container is removed whatever happens."""
    cid = None
    try:
        cid = api.create_container(base, command, host_config=api.create_host_config(network_mode="none"))["Id"]
        api.put_archive(cid, dest, archive)
        api.start(cid)
        code = api.wait(cid, timeout=3600).get("StatusCode")
        # What the command printed is data (file names of a repository among it): capped, made inert.
        raw = api.logs(cid, tail=LOG_LINES).decode("utf-8", errors="replace")
        output = [inert(line[:500], lines=False) for line in raw.splitlines()]
        for line in output:
            if line.startswith("+"):
                log("  " + line)
        if code != 0:
            raise ImageBuildError(f"building {tag} failed: {' '.join(command)} exited with {code}\n"
                                  + "\n".join(output[-20:]))
        repository, _, version = tag.rpartition(":")
        cmd = api.inspect_image(base)["Config"].get("Cmd")
        api.commit(cid, repository=repository, tag=version,
                   changes=[f"CMD {json.dumps(cmd)}" if cmd else "CMD []",
                            f"LABEL dgm.image=1 dgm.recipe={tag}"])
    except ImageBuildError:
        raise
    except Exception as exc:  # noqa: BLE001 - engine errors become build errors
        raise ImageBuildError(f"building {tag} failed: {exc}") from exc
    finally:
        if cid is not None:
            try:
                api.remove_container(cid, force=True)
            except Exception:  # noqa: BLE001 - a leftover container must not hide the build's outcome
                pass


def fetch_wheels(requirements: list[str], dest: Path, python_version: str) -> Path:
    """`pip download` binary wheels for PYTHON_VERSION (e.g. "3.9") into DEST on the host."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if not requirements:
        return dest
    cmd = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
        "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
        "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64",
        "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux1_x86_64",
        "--platform", "manylinux2010_x86_64", "--platform", "linux_x86_64",
        "--dest", str(dest), *requirements,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        lines = [ln for ln in (res.stderr or res.stdout).splitlines() if ln.strip()]
        raise ImageBuildError(
            f"pip download for python {python_version} failed for {' '.join(requirements)}:\n"
            + "\n".join(lines[-15:]),
            hint="a package without a wheel for this Python needs an sdist build step",
        )
    return dest
