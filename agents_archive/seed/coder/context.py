"""Keeps the conversation sent to the model under a character budget by eliding old outputs."""

from __future__ import annotations

import copy
from typing import Any, Dict, List

ELIDED = "\n[... older output elided to keep the conversation short ...]"


def size(messages: List[Dict[str, Any]]) -> int:
    total = 0
    for m in messages:
        total += len(m.get("content") or "")
        for call in m.get("tool_calls") or []:
            total += len(str((call.get("function") or {}).get("arguments") or ""))
    return total


def compact(messages: List[Dict[str, Any]], budget: int, keep_last: int = 10) -> List[Dict[str, Any]]:
    """A copy of the messages that fits the budget; the first two and the last turns stay whole.

    Only contents are shortened, never whole messages dropped, so each tool call keeps its answer.
    """
    if size(messages) <= budget:
        return messages
    out = copy.deepcopy(messages)
    old = range(2, max(2, len(out) - keep_last))
    for keep in (400, 0):  # first shorten old outputs, then empty them
        for i in old:
            _shorten(out[i], keep)
            if size(out) <= budget:
                return out
    # Still too long: the recent turns themselves are huge; give each an equal share.
    share = max(200, budget // max(1, len(out)))
    for i in range(2, len(out)):
        _shorten(out[i], share)
    return out


def _shorten(message: Dict[str, Any], keep: int) -> None:
    text = message.get("content")
    if isinstance(text, str) and len(text) > keep + len(ELIDED):
        message["content"] = text[:keep] + ELIDED
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        args = fn.get("arguments")
        if isinstance(args, str) and len(args) > max(keep, 400) + len(ELIDED):
            # Arguments must stay valid JSON for the provider; keep a summary object instead.
            fn["arguments"] = '{"elided": "old arguments of %d characters"}' % len(args)
