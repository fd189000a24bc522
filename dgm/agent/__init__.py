"""Engine side of the agent ABI (dgm-agent-1): run an agent tree on a task inside a sandbox.

Names load lazily so `import dgm.agent` imports neither docker nor litellm.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ABI": "dgm.agent.task",
    "SEED_TREE": "dgm.agent.task",
    "AgentLimits": "dgm.agent.runner",
    "AgentRun": "dgm.agent.runner",
    "run_agent": "dgm.agent.runner",
    "ensure_agent_image": "dgm.agent.images",
    "drop_test_changes": "dgm.agent.patch",
    "is_test_path": "dgm.agent.patch",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dgm.agent' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
