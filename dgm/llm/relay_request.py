"""What the relay accepts in a chat request: shape, nesting depth, content kinds and parameters.

Everything here runs on bytes and data a sandbox sent, before anything is forwarded or charged.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

from dgm.llm.gateway import PASS_THROUGH

MAX_JSON_DEPTH = 64   # OpenAI requests nest ~10 deep (tool schemas a little more); json's C parser blows up near 1000
# n and user are the host's to set; max_completion_tokens is folded into the max_tokens ceiling by the gateway
RELAY_PARAMS = PASS_THROUGH - {"n", "user"}
IGNORED = {"model", "stream", "stream_options", "n"}   # accepted and ignored (n only when 1)
# Parsed JSON costs ~50-200 bytes of host memory per value whatever its size on the wire: [{},{},...] grows
# twenty-fold. Values are bounded by separators and containers; a long agent conversation has a few thousand.
MAX_JSON_ITEMS = 100_000
IMAGE_MARGIN_TOKENS = 4096  # an image is billed by its pixels, not its bytes: reserve this much per image

_ESCAPE = re.compile(rb'\\[\\"]')  # only these two escapes can hide a quote
_STRING = re.compile(rb'"[^"]*"')  # after escapes are gone: linear, whatever the input
_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")


def json_shape(raw: bytes) -> tuple[int, int]:
    """(nesting depth, items) of a JSON text, without parsing it; items = separators + containers.

    Both are upper bounds that stay under the limits when the text has too few brackets and commas to
    exceed them (the common case: three counts); otherwise strings are cut out first (C-speed scans).
    """
    opens = raw.count(b"[") + raw.count(b"{")
    if opens <= MAX_JSON_DEPTH and opens + raw.count(b",") <= MAX_JSON_ITEMS:
        return opens, opens + raw.count(b",")
    bare = _STRING.sub(b"", _ESCAPE.sub(b"", raw))
    items = bare.count(b"[") + bare.count(b"{") + bare.count(b",")
    brackets = bare.translate(None, _BRACKETS)
    if len(brackets) <= 1:
        return len(brackets), items
    return max(accumulate(memoryview(brackets.translate(_STEP)).cast("b"))), items


def request_problem(request: Any) -> str | None:
    """Why a chat request is unusable, in words a sandboxed agent can act on; None if it is fine."""
    if not isinstance(request, dict):
        return "request body must be a JSON object"
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        return "request needs a non-empty 'messages' list"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return f"messages[{i}] must be an object with a 'role'"
        problem = _content_problem(message.get("content"))
        if problem:
            return f"messages[{i}].content: {problem}"
    if request.get("tools") is not None and not isinstance(request["tools"], list):
        return "'tools' must be a list"
    if request.get("stream"):
        return "streaming is not supported by the relay: send stream=false"
    if request.get("n") not in (None, 1):
        return "n must be 1 through the relay: one completion per call"
    return None


def _content_problem(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return None
    if not isinstance(content, list):
        return "must be a string or a list of parts"
    for k, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and isinstance(part.get("text"), str):
            continue
        if kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if isinstance(url, str) and url.startswith("data:"):
                continue  # a URL would make the provider fetch something of unknown size and cost
            return f"part {k}: only data: image URLs are relayed"
        return f"part {k}: only 'text' and 'image_url' (data:) parts are relayed"
    return None


def image_count(messages: list[dict]) -> int:
    return sum(1 for m in messages if isinstance(m.get("content"), list)
               for p in m["content"] if isinstance(p, dict) and p.get("type") == "image_url")


def relay_params(request: dict) -> dict[str, Any]:
    """The parameters the gateway gets; the role's settings bound them (max_tokens is a ceiling)."""
    return {k: request[k] for k in RELAY_PARAMS if request.get(k) is not None}
