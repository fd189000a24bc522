"""EnvRecipe: everything needed to build one task's environment image (dgm.bench.makers makes them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class EnvRecipe:
    """The inputs of an environment image; the image tag is a hash of all of them."""

    instance_id: str
    source_dir: Path  # host dir: the repository at the task's "before" state (plain files)
    suite: str  # "bookworm" (Python 3.11) | "bullseye" (Python 3.9)
    wheels_dir: Path | None  # wheels fetched on the host for that Python
    requirements: list[str]  # installed into /opt/dgm/venv with --no-index --find-links
    install_cmd: str  # run in /testbed after deps, no network
    test_command: str  # shell, run in /testbed; prints the test log (framing added by grading)
    log_parser: str  # swebench repo key ("pallets/flask") or parser name ("pytest")
    env: dict[str, str] = field(default_factory=dict)
    notes: dict = field(default_factory=dict)  # provenance: release used, python, etc.
    # The tree the shared environment image (venv + install) is built from: the release as
    # published, which every instance of that release differs from in a few files. None: the
    # source itself (the environment is then this instance's alone).
    release_dir: Path | None = None
    # Debian packages built into the base image's root filesystem (a compiler for C extensions).
    debian_packages: list[str] = field(default_factory=list)
    # Names the shared environment image (e.g. "flask-2.3.0-py3.11"); "" = the instance id.
    environment_key: str = ""
