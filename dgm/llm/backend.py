"""litellm, imported once and only when a model is called or priced: the import costs seconds."""

from __future__ import annotations

import os
import threading
from typing import Any

_litellm_lock = threading.Lock()
_litellm_module: Any = None


def load_litellm() -> Any:
    """Import litellm on first use (seconds of start-up) and make it quiet and retry-free."""
    global _litellm_module
    with _litellm_lock:
        if _litellm_module is None:
            # Prices come from the installed litellm (recorded in prices.json with its version), not a
            # download at import that stalls offline; LITELLM_LOCAL_MODEL_COST_MAP=False restores it.
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
            import litellm

            litellm.suppress_debug_info = True
            litellm.num_retries = 0  # tenacity owns retries; two layers would multiply attempts
            _litellm_module = litellm
    return _litellm_module
