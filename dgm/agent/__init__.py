"""Engine side of the agent ABI (dgm-agent-1): run an agent tree on a task inside a sandbox.

Names load lazily so `import dgm.agent` imports neither docker nor litellm.
"""

from __future__ import annotations

from dgm.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)
