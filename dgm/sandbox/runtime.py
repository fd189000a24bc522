"""What a sandbox backend provides: a lifecycle (start, stop, alive) and one operation, run.

Everything else a Sandbox does (commands with output caps, files and trees in and out, diffs)
is built on `run` in dgm.sandbox.driver, so each backend implements only these few things and
every backend's files cross the boundary through the same checked tar streams.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from dgm.sandbox.execstream import Capture
from dgm.sandbox.hardening import Limits

AGENT = "1000:1000"
RELAY_MOUNT = "/run/dgm"
KILL_GRACE = 5.0  # seconds to drain output after the kill
# The writable places of every sandbox, each a tmpfs whose size is its disk limit.
WORK_DIRS = ("/testbed", "/tmp", "/home/agent", "/io", "/io/out")


@dataclass
class Mount:
    """A host directory bind-mounted into the sandbox (read-only unless said otherwise)."""

    host: Path
    container: str
    read_only: bool = True


@dataclass
class StartSpec:
    """Everything a backend needs to start one sandbox."""

    image: str
    run_id: str
    name: str
    limits: Limits
    workdir: str
    mounts: Sequence[Mount] = ()  # the relay directory already among them
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class RunOutcome:
    exit_code: int | None
    timed_out: bool
    oom_killed: bool


class Runtime:
    """One started sandbox of some backend. Calls are serialized by the Sandbox that owns it."""

    backend = "?"
    id = ""
    # Whether the backend itself kills every agent process a command left when it ends (else the
    # driver wraps agent commands in a shell that does).
    ends_leftovers = False

    def run(self, argv: list[str], capture: Capture, *, deadline: float, workdir: str,
            env: Mapping[str, str], user: str, stdin: bytes | None) -> RunOutcome:
        """Run ARGV to completion or DEADLINE (time.monotonic), every output byte into CAPTURE."""
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def stop(self) -> None:
        """Kill everything in the sandbox and remove it (idempotent)."""
        raise NotImplementedError
