"""The per-task-run verification call: after the agent's run and before grading, the task's own model
says how likely the patch resolves the issue. Its answer is data: parsed, clamped, never executed."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from dgm.errors import BudgetExceeded, ModelError

MARKER = "You verify a patch for an issue in a code repository."
SYSTEM = MARKER + """
You read an issue and a patch written to fix it. You cannot run anything. Estimate the probability
that the hidden tests written for this issue pass with the patch applied (the issue is resolved and
nothing else breaks). Answer with one JSON object and nothing else: {"p_resolved": <a number from 0 to 1>}"""
MAX_ISSUE_CHARS = 6000
MAX_PATCH_CHARS = 12000
ANSWER_CHARS = 2000


def messages(instance_id: str, problem_statement: str, patch: str) -> list[dict]:
    """The conversation: the issue and the patch, each clipped, as quoted material."""
    user = (f"Task under verification: {instance_id}\n\n## Issue\n{_clip(problem_statement, MAX_ISSUE_CHARS)}\n\n"
            f"## Patch\n```diff\n{_clip(patch, MAX_PATCH_CHARS)}\n```")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_probability(text: str | None) -> float | None:
    """p_resolved from the answer (JSON or a bare number; a percentage over 1 is divided by 100)."""
    if not text:
        return None
    text = text[:ANSWER_CHARS]
    value: Any = None
    match = re.search(r"\{.*\}", text, re.S)
    if match:
        try:
            data = json.loads(match.group(0))
            value = data.get("p_resolved") if isinstance(data, dict) else None
        except json.JSONDecodeError:
            value = None
    if value is None:
        number = re.search(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(%?)", text)
        if number is None:
            return None
        value = float(number.group(1)) / (100.0 if number.group(2) else 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    if 1.0 < value <= 100.0:
        value /= 100.0
    return value if 0.0 <= value <= 1.0 else None


def verify_patch(gateway: Any, instance_id: str, problem_statement: str, patch: str, *, account: str) -> dict:
    """One call to the task's model; the record stored with the task result (p is None when unusable)."""
    started = time.monotonic()
    record: dict[str, Any] = {"p": None, "tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0, "error": None}
    try:
        response = gateway.complete("task", messages(instance_id, problem_statement, patch), account=account)
    except BudgetExceeded as exc:
        record["error"] = f"over budget: {str(exc)[:200]}"
    except ModelError as exc:
        record["error"] = f"model error: {str(exc)[:200]}"
    else:
        text = ((response.get("choices") or [{}])[0].get("message") or {}).get("content")
        usage = response.get("usage") or {}
        record["tokens_in"] = int(usage.get("prompt_tokens") or 0)
        record["tokens_out"] = int(usage.get("completion_tokens") or 0)
        record["p"] = parse_probability(text if isinstance(text, str) else None)
        if record["p"] is None:
            record["error"] = "no probability in the answer"
        try:
            settings = gateway.settings_for("task")
            record["cost_usd"] = round(gateway.prices[settings.model].cost(record["tokens_in"],
                                                                           record["tokens_out"]), 8)
        except (AttributeError, KeyError):
            pass
    record["seconds"] = round(time.monotonic() - started, 3)
    return record


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + f"\n[... {len(text) - limit} characters elided ...]\n" + text[-half:]
