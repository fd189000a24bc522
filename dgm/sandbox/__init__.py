"""Hardened offline Docker sandboxes: locally built images and the container driver.

Names are imported lazily so `import dgm.sandbox` does not import docker.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "ensure_base_image": "dgm.sandbox.images",
    "ensure_image": "dgm.sandbox.images",
    "fetch_wheels": "dgm.sandbox.images",
    "Limits": "dgm.sandbox.driver",
    "Mount": "dgm.sandbox.driver",
    "ExecResult": "dgm.sandbox.driver",
    "Sandbox": "dgm.sandbox.driver",
    "sweep": "dgm.sandbox.driver",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'dgm.sandbox' has no attribute {name!r}")
