"""Rootless Podman: its Docker-compatible service on a user socket, run as the unprivileged account.

Images come from the same offline recipes: what the Docker engine built is streamed with
`docker save` into `podman load` once, under the same tag.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

from dgm.errors import SandboxError
from dgm.sandbox.locks import build_lock
from dgm.sandbox.unprivileged import Account, account_hint, sandbox_account

SERVICE_IDLE_SECONDS = 0  # never idles out: a long evolve run may pause longer than any timeout


def _account() -> Account:
    account = sandbox_account()
    if account is None:
        raise SandboxError("no unprivileged account for rootless Podman", hint=account_hint())
    return account


def _connectable(path: Path) -> bool:
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.settimeout(2)
        sock.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        sock.close()


def podman_socket() -> str:
    """The user socket of the account's Podman service ($DGM_PODMAN_SOCKET, or started here)."""
    if os.environ.get("DGM_PODMAN_SOCKET"):
        return os.environ["DGM_PODMAN_SOCKET"]
    account = _account()
    path = account.runtime_dir() / "podman" / "podman.sock"
    if _connectable(path):
        return str(path)
    with build_lock(f"podman-service-{account.uid}"):
        if _connectable(path):
            return str(path)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        if not account.is_self:
            os.chown(path.parent, account.uid, account.gid)
        log = account.runtime_dir() / "podman-service.log"
        with open(log, "ab") as out:
            if not account.is_self:
                os.chown(log, account.uid, account.gid)
            subprocess.Popen(
                ["podman", "system", "service", f"--time={SERVICE_IDLE_SECONDS}", f"unix://{path}"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=account.env(), cwd=account.home,
                start_new_session=True, **account.popen_kwargs(),
            )
        deadline = time.monotonic() + 30
        while not _connectable(path):
            if time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-800:]
                raise SandboxError(f"the Podman service of {account.name} did not start: {tail}",
                                   hint="run `dgm doctor`")
            time.sleep(0.1)
    return str(path)


def podman_cli(*args: str, stdin: int | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `podman ARGS` as the sandbox account."""
    account = _account()
    return subprocess.run(["podman", *args], stdin=stdin, capture_output=True, text=True, timeout=timeout,
                          env=account.env(), cwd=account.home, **account.popen_kwargs())


def ensure_podman_image(tag: str) -> None:
    """Make TAG present in the account's Podman store: loaded once from the Docker engine."""
    from dgm.sandbox.engine import docker_client, image_exists

    if image_exists(tag, "podman"):  # loaded before, or built by Podman (no Docker here)
        return
    with build_lock(f"podman-image-{tag}"):
        if image_exists(tag, "podman"):
            return
        try:
            api = docker_client().api
        except SandboxError as exc:
            raise SandboxError(f"image {tag} is not in Podman's store and the Docker engine that builds "
                               f"images is unreachable: {exc.message}",
                               hint=f"load it: `docker save {tag} | podman load` as the sandbox user") from exc
        load = subprocess.Popen(["podman", "load"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=_account().env(), cwd=_account().home,
                                **_account().popen_kwargs())
        assert load.stdin is not None and load.stdout is not None
        try:
            for chunk in api.get_image(tag, chunk_size=1 << 20):
                load.stdin.write(chunk)
        finally:
            load.stdin.close()
        out = load.stdout.read().decode(errors="replace")
        if load.wait() != 0:
            raise SandboxError(f"podman load of {tag} failed: {out[-800:]}")
        if not image_exists(tag, "podman"):  # an old podman names loaded images localhost/NAME
            res = podman_cli("tag", f"localhost/{tag}", tag)
            if res.returncode != 0:
                raise SandboxError(f"podman load of {tag} did not keep its tag: {out[-400:]} {res.stderr[-400:]}")


def check_reachable(paths: list[Path]) -> None:
    """Rootless Podman mounts as the sandbox account: each mount source must be reachable by it."""
    account = _account()
    if account.is_self:
        return
    for path in paths:
        for parent in [*reversed(path.parents), path]:
            st = parent.stat()
            mine = st.st_uid == account.uid
            if parent.is_dir() and not (st.st_mode & (0o100 if mine else 0o001)):
                raise SandboxError(f"mount source {path}: {parent} is not searchable by {account.name}, "
                                   "the account rootless Podman mounts as",
                                   hint=f"keep mount sources in a directory {account.name} can reach (mode 0755)")


def seccomp_profile_path() -> str:
    """dgm's seccomp profile as a file the account's Podman service reads (written once)."""
    import hashlib

    from dgm.sandbox.seccomp import oci_profile

    account = _account()
    data = json.dumps(oci_profile(), sort_keys=True).encode()
    path = account.runtime_dir() / f"dgm-seccomp-{hashlib.sha256(data).hexdigest()[:12]}.json"
    if not path.is_file():
        partial = path.with_suffix(f".{os.getpid()}")
        partial.write_bytes(data)
        if not account.is_self:
            os.chown(partial, account.uid, account.gid)
        partial.replace(path)
    return str(path)
