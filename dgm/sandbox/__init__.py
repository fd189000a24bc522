"""Hardened offline sandboxes (Docker, rootless Podman, bubblewrap): locally built images and the driver.

Names are imported lazily so `import dgm.sandbox` does not import docker.
"""

from __future__ import annotations

from dgm.lazy import lazy_exports

_EXPORTS = {
    "ensure_base_image": "dgm.sandbox.images",
    "ensure_image": "dgm.sandbox.images",
    "fetch_wheels": "dgm.sandbox.images",
    "Limits": "dgm.sandbox.driver",
    "Mount": "dgm.sandbox.driver",
    "ExecResult": "dgm.sandbox.driver",
    "Sandbox": "dgm.sandbox.driver",
    "sweep": "dgm.sandbox.driver",
    "use_backend": "dgm.sandbox.backends",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
