"""The agent image: the base sandbox plus a venv with pytest, for self-modification and stage 0."""

from __future__ import annotations

from pathlib import Path

from dgm.home import dgm_home

PYTHON = "3.11"                 # bookworm's python3
REQUIREMENTS = ["pytest==8.4.2"]  # pinned: the image tag follows the wheels' bytes
VENV = "/opt/dgm/venv"

# Convention for every task image: the venv's bin comes first on PATH, so `python3` is the
# venv's (the base image keeps an image's PATH for `bash -lc` too).
# (one long pip line: reflowing it would change the recipe hash, and so the image tag)
DOCKERFILE = f"""FROM {{base}}
COPY wheels /tmp/wheels
RUN python3 -m venv {VENV} \\
 && {VENV}/bin/pip install --no-index --no-cache-dir --disable-pip-version-check --find-links /tmp/wheels {' '.join(REQUIREMENTS)} \\
 && rm -rf /tmp/wheels
ENV PATH={VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
"""


def agent_wheels() -> Path:
    """The wheels the agent image installs, downloaded once on the host and reused offline."""
    from dgm.sandbox.images import fetch_wheels

    dest = dgm_home() / "wheels" / f"agent-py{PYTHON}"
    if not any(dest.glob("pytest-8.4.2-*.whl")):
        fetch_wheels(REQUIREMENTS, dest, PYTHON)
    return dest


def ensure_agent_image() -> str:
    """Tag of the agent image (bookworm base + pytest in /opt/dgm/venv); built on first use."""
    from dgm.sandbox.images import ensure_base_image, ensure_image

    base = ensure_base_image("bookworm")
    wheels = agent_wheels()
    files = {f"wheels/{w.name}": w for w in sorted(wheels.glob("*.whl"))}
    return ensure_image("dgm-agent", None, DOCKERFILE, base=base, files=files)
