"""Which provider failures are worth another attempt, and how long to wait before it."""

from __future__ import annotations

import random
from typing import Any

RETRYABLE_NAMES = {"APIConnectionError", "Timeout", "APITimeoutError", "ServiceUnavailableError",
                   "InternalServerError", "BadGatewayError", "RateLimitError", "MalformedResponse"}


class MalformedResponse(Exception):
    """The provider answered 200 with something that is not a usable chat completion."""


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    try:
        return int(status) if status is not None else None
    except (TypeError, ValueError):
        return None


def is_retryable(exc: BaseException) -> bool:
    """Rate limits, 5xx, timeouts, connection errors, malformed bodies: yes. Other 4xx (bad request, auth): no."""
    status = status_of(exc)
    if status is not None:
        return status in (408, 409, 429) or status >= 500
    return any(cls.__name__ in RETRYABLE_NAMES for cls in type(exc).__mro__)


def retry_after(exc: BaseException) -> float | None:
    """Seconds from the provider's Retry-After (or retry-after-ms) header, if it sent one."""
    headers: Any = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
    if not headers:
        return None
    try:
        millis = headers.get("retry-after-ms")
        if millis is not None:
            return max(0.0, float(millis) / 1000)
        value = headers.get("retry-after")
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP-date Retry-After: fall back to our own backoff


def backoff_seconds(attempt: int, exc: BaseException | None, *, base: float, cap: float) -> float:
    """Wait before attempt `attempt + 1`: the provider's Retry-After (capped), else exponential full jitter."""
    hinted = retry_after(exc) if exc is not None else None
    if hinted is not None:
        return min(hinted, cap)
    return random.uniform(0, min(cap, base * (2 ** max(0, attempt - 1))))
