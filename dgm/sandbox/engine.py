"""One Docker client per process, with a clear error when the engine is unreachable."""

from __future__ import annotations

from typing import Any

from dgm.errors import SandboxError

_client: Any = None


def docker_client() -> Any:
    """The process-wide docker SDK client (imported lazily: `import docker` costs time)."""
    global _client
    if _client is None:
        import docker

        try:
            client = docker.from_env(timeout=120)
            client.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means the same to the user
            raise SandboxError(
                f"cannot reach the Docker engine: {exc}",
                hint="start dockerd, or set DOCKER_HOST; then run `dgm doctor`",
            ) from exc
        _client = client
    return _client


def image_exists(tag: str) -> bool:
    """Whether the engine has an image with this tag."""
    import docker

    try:
        docker_client().images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False
