"""Per-role model settings: which litellm model, where, with which host env var for the key."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

from dgm.errors import BadInput, ModelError


class ModelSettingsError(ModelError, BadInput):
    """Model settings that cannot be used (no price, missing key variable). Exit code 2."""


@dataclass
class ModelSettings:
    """One role's model; `api_key_env` names the HOST env var holding the key, never the key itself."""

    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout: float = 120.0
    max_retries: int = 5
    price_in_per_mtok: float | None = None
    price_out_per_mtok: float | None = None
    tokens_only: bool = False
    retry_base_seconds: float = 1.0     # first backoff; doubles per attempt, with full jitter
    retry_max_seconds: float = 30.0     # cap for one backoff and for a provider's Retry-After

    def __post_init__(self) -> None:
        if not self.model or not isinstance(self.model, str):
            raise ModelSettingsError("a model setting needs a litellm model string",
                                     hint='e.g. "anthropic/claude-sonnet-4-5" or "openai/gpt-4o"')
        if (self.price_in_per_mtok is None) != (self.price_out_per_mtok is None):
            raise ModelSettingsError(f"model {self.model}: give both price_in_per_mtok and price_out_per_mtok")
        if self.max_retries < 0 or self.timeout <= 0:
            raise ModelSettingsError(f"model {self.model}: max_retries must be >= 0 and timeout > 0")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelSettings":
        """Build from a config table; unknown keys are a BadInput naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelSettingsError(f"unknown model setting(s) {', '.join(unknown)}",
                                     hint=f"known: {', '.join(sorted(known))}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def api_key(self) -> str | None:
        """The key from the host environment; "x" for a local api_base without one; None: litellm's default."""
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if not value:
                raise ModelSettingsError(f"model {self.model}: environment variable {self.api_key_env} is not set",
                                         hint=f"export {self.api_key_env}=... on the host")
            return value
        if self.api_base:
            return "x"  # OpenAI-compatible local servers want some key
        return None
