"""Model gateway and relay. Names load lazily so that importing dgm.llm never imports litellm."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ModelSettings": "dgm.llm.settings",
    "ModelSettingsError": "dgm.llm.settings",
    "Gateway": "dgm.llm.gateway",
    "Ledger": "dgm.llm.ledger",
    "Usage": "dgm.llm.ledger",
    "Price": "dgm.llm.pricing",
    "Exchange": "dgm.llm.recording",
    "Relay": "dgm.llm.relay",
    "RelayClient": "dgm.llm.relay_client",
    "Script": "dgm.llm.script",
    "ScriptedModelServer": "dgm.llm.scripted",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dgm.llm' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
