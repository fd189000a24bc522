"""Scripts for the scripted model server: rules matched by message content, or a call-order sequence.

A reply is a dict: ``{"content": str | None, "tool_calls": [{"name", "arguments": dict}],
"usage": {"prompt_tokens", "completion_tokens"}}``, a fault ``{"fault": "429" | "500" | "400"
| "hang" | "malformed" | "drop", ...}``, or ``{"raw": <a whole chat.completion dict>}``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from dgm.errors import BadInput
from dgm.llm.recording import iter_lines

Reply = dict[str, Any]


@dataclass
class Rule:
    """Replies for conversations whose messages contain `match` (None: the default rule)."""

    match: str | None
    replies: list[Reply]

    def matches(self, request: Mapping[str, Any]) -> bool:
        if self.match is None:
            return True
        return any(self.match in text for text in message_texts(request))


@dataclass
class Script:
    """Rules (stateless: reply index = assistant messages so far) or a sequence consumed in call order."""

    rules: list[Rule] = field(default_factory=list)
    sequence: list[Reply] | None = None
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_data(cls, data: Any) -> "Script":
        """Build from JSON-like data: a list of rules, or {"rules": [...]} / {"sequence": [...]}."""
        if isinstance(data, Script):
            return data
        if isinstance(data, list):
            data = {"rules": data}
        if not isinstance(data, Mapping):
            raise BadInput("a model script must be a list of rules or an object with 'rules' or 'sequence'")
        rules = []
        for raw in data.get("rules") or []:
            if not isinstance(raw, Mapping) or not isinstance(raw.get("replies"), list) or not raw["replies"]:
                raise BadInput(f"script rule {raw!r} needs a non-empty 'replies' list")
            rules.append(Rule(match=raw.get("match"), replies=list(raw["replies"])))
        sequence = data.get("sequence")
        if sequence is not None and (not isinstance(sequence, list) or not sequence):
            raise BadInput("script 'sequence' must be a non-empty list of replies")
        if not rules and sequence is None:
            raise BadInput("a model script needs at least one rule or a sequence")
        return cls(rules=rules, sequence=sequence)

    @classmethod
    def load(cls, path: Path) -> "Script":
        """Read a script from a JSON file."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise BadInput(f"cannot read model script {path}: {exc}", hint="give a JSON file") from exc
        return cls.from_data(data)

    def reply_for(self, request: Mapping[str, Any]) -> Reply | None:
        """The reply to serve for this request, or None when no rule matches."""
        if self.sequence is not None:
            with self._lock:
                index = self._next
                self._next += 1
            if index < len(self.sequence):
                return self.sequence[index]
            if not self.rules:
                return self.sequence[-1]
        for rule in self.rules:
            if rule.matches(request):
                turn = sum(1 for m in request.get("messages") or [] if isinstance(m, Mapping)
                           and m.get("role") == "assistant")
                return rule.replies[min(turn, len(rule.replies) - 1)]
        return None


ScriptLike = Script | Sequence[Mapping[str, Any]] | Mapping[str, Any] | Callable[[dict], Reply]


def message_texts(request: Mapping[str, Any]) -> list[str]:
    """Every text in the request's messages (string contents and text parts), system prompt included."""
    texts: list[str] = []
    for message in request.get("messages") or []:
        if not isinstance(message, Mapping):
            continue
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p.get("text", "") for p in content if isinstance(p, Mapping))
    return texts


def from_recording(path: Path, *, account: str | None = None) -> Script:
    """A sequence script serving the recorded responses of `account` (or all) in recorded order."""
    responses: list[Reply] = []
    try:
        entries = list(iter_lines(path))
    except OSError as exc:
        raise BadInput(f"cannot read model recording {path}: {exc}") from exc
    for entry in entries:
        if account is not None and account not in (entry.get("accounts") or [entry.get("account")]):
            continue
        if entry.get("response"):
            responses.append({"raw": entry["response"]})
    if not responses:
        raise BadInput(f"model recording {path} has no responses" + (f" for account {account!r}" if account else ""))
    return Script(sequence=responses)
