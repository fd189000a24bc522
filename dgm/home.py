"""Where dgm keeps what it builds once and reuses: image build caches, wheels, bench builds."""

from __future__ import annotations

import os
from pathlib import Path


def dgm_home() -> Path:
    """$DGM_HOME, or ~/.cache/dgm; created on first use."""
    home = Path(os.environ.get("DGM_HOME") or Path.home() / ".cache" / "dgm")
    home.mkdir(parents=True, exist_ok=True)
    return home
