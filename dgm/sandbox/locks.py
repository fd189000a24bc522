"""An fcntl file lock under dgm_home, so parallel processes build an image once."""

from __future__ import annotations

import fcntl
import os
import re
from contextlib import contextmanager
from typing import Iterator

from dgm.home import dgm_home


@contextmanager
def build_lock(name: str) -> Iterator[None]:
    """Hold an exclusive lock named `name` (blocks until other holders are done)."""
    locks = dgm_home() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    path = locks / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
