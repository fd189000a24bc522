"""Model gateway and relay. Names load lazily so that importing dgm.llm never imports litellm."""

from __future__ import annotations

from dgm.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)
