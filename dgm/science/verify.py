"""The per-task-run verification call: after the agent's run and before grading, the task's own model
says how likely the patch resolves the issue. Its answer is data: parsed, clamped, never executed."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from dgm.errors import BudgetExceeded, ModelError

MARKER = "You verify a patch for an issue."
# Terse on purpose: this call is made once per task run, so every token here is paid that many times.
SYSTEM = MARKER + ' P(its hidden tests pass with the patch)? Reply only {"p_resolved": <0 to 1>}'
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@ ?")
MAX_ISSUE_CHARS = 3000      # SWE-bench issues: most are shorter; a long one keeps its head and tail
MAX_PATCH_CHARS = 6000
CONTEXT = 1                 # unchanged lines kept either side of a change
ANSWER_TOKENS = 24          # {"p_resolved": 0.73} is about ten
ANSWER_CHARS = 2000
_HEADER = ("diff --git ", "index ", "new file mode", "deleted file mode", "old mode", "new mode", "similarity",
           "rename from", "rename to", "copy from", "copy to")


def messages(instance_id: str, problem_statement: str, patch: str) -> list[dict]:
    """The conversation: the issue and the patch (compacted), each clipped, as quoted material."""
    user = (f"Task under verification: {instance_id}\n## Issue\n{_clip(problem_statement.strip(), MAX_ISSUE_CHARS)}\n"
            f"## Patch\n```diff\n{_clip(compact(patch), MAX_PATCH_CHARS)}```")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def compact(patch: str) -> str:
    """The patch as a reader needs it: git's extended headers, the old file name and the hunks' line numbers
    dropped, unchanged lines cut to CONTEXT either side of a change (what a reader skims, it is not paid for)."""
    lines = []
    for line in patch.splitlines():
        if line.startswith(_HEADER):
            continue
        if line.startswith("+++ ") and lines and lines[-1].startswith("--- a/"):
            lines.pop()   # "--- a/X" then "+++ b/X": the file's name once is enough
        lines.append(("@@ " + _HUNK.sub("", line)).rstrip() if _HUNK.match(line) else line)
    changed = [i for i, line in enumerate(lines) if _is_change(line)]
    keep = set()
    for i in changed:
        keep.update(range(i - CONTEXT, i + CONTEXT + 1))
    out = [line for i, line in enumerate(lines)
           if not line.startswith(" ") and line != "" or i in keep]
    return "\n".join(out) + "\n" if out else ""


def _is_change(line: str) -> bool:
    return (line.startswith("+") and not line.startswith("+++ ")) or (line.startswith("-") and not line.startswith("--- "))


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
        response = gateway.complete("task", messages(instance_id, problem_statement, patch), account=account,
                                    max_tokens=ANSWER_TOKENS)
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
