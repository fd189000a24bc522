"""One client per container engine and process, with a clear error when the engine is unreachable.

Docker and rootless Podman speak the same API: Podman's `system service` serves it on a user
socket, so one SDK and one exec stream drive both; only the socket differs.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

from dgm.errors import SandboxError

_clients: dict[str, Any] = {}  # engine name -> docker SDK client
_sockets: dict[str, str] = {}  # engine name -> unix socket path


def docker_socket_path() -> str:
    """The Docker engine's unix socket ($DOCKER_HOST or the default)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return "/var/run/docker.sock"
    parsed = urlparse(host)
    if parsed.scheme != "unix":
        raise SandboxError(
            f"DOCKER_HOST={host} is not a unix socket", hint="sandboxes need a local engine socket"
        )
    return parsed.path


def docker_client() -> Any:
    """The process-wide docker SDK client (imported lazily: `import docker` costs time)."""
    client = _clients.get("docker")
    if client is None:
        import docker

        try:
            client = docker.from_env(timeout=120)
            client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means the same to the user
            raise SandboxError(
                f"cannot reach the Docker engine: {exc}",
                hint="start dockerd, or set DOCKER_HOST; then run `dgm doctor`",
            ) from exc
        _clients["docker"] = client
        _sockets["docker"] = docker_socket_path()
    return client


def engine_client(engine: str) -> Any:
    """The client of ENGINE ("docker" or "podman"), connecting (and for Podman starting) on first use."""
    if engine == "docker":
        return docker_client()
    client = _clients.get(engine)
    if client is None:
        from dgm.sandbox.podman import podman_socket

        import docker

        path = podman_socket()
        try:
            client = docker.DockerClient(base_url=f"unix://{path}", timeout=120)
            client.ping()
        except Exception as exc:  # noqa: BLE001
            raise SandboxError(f"cannot reach the Podman service at {path}: {exc}",
                               hint="run `dgm doctor` to see what the podman backend needs") from exc
        _clients[engine], _sockets[engine] = client, path
    return client


def engine_socket(engine: str) -> str:
    """The unix socket of ENGINE (connects first if needed)."""
    engine_client(engine)
    return _sockets[engine]


def connected_engines() -> list[str]:
    """Engines this process has a client for."""
    return list(_clients)


def image_engine() -> str:
    """The engine that builds and keeps images: Docker, or rootless Podman where there is no
    Docker engine (the same recipes, through the same API)."""
    from dgm.sandbox.backends import missing

    if missing("docker") is None or missing("podman") is not None:
        return "docker"
    return "podman"


def image_exists(tag: str, engine: str | None = None) -> bool:
    """Whether ENGINE (default: the image engine) has an image with this tag."""
    import docker

    try:
        engine_client(engine or image_engine()).images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False
