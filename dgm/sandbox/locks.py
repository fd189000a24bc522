"""A named file lock under dgm_home, so parallel processes build an image once."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

from dgm.home import dgm_home
from dgm.locks import file_lock


@contextmanager
def build_lock(name: str) -> Iterator[None]:
    """Hold an exclusive lock named `name` (blocks until other holders are done)."""
    with file_lock(dgm_home() / "locks" / (re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".lock")):
        yield
