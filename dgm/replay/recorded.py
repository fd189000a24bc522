"""The model responses of a recorded agent run, as a script a ScriptedModelServer serves back in order.

Where they come from, best first: the task's own llm_calls.jsonl; the run's llm_calls.jsonl, keeping the
exchanges of this conversation (same account, same opening task message); the trajectory's assistant
messages (the responses as the agent kept them, without usage).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dgm.artifacts import Trajectory
from dgm.artifacts.calls import accounts_of, iter_calls
from dgm.errors import BadInput


@dataclass
class Recording:
    """Responses to serve in call order, a digest of the request that received each, and where they came from."""

    responses: list[dict]
    requests: list[str]            # request_key of each exchange's request messages ("" when unknown)
    source: str


def opening(messages: Any) -> str | None:
    """The first user message's text: it names the task, so it tells one conversation from another."""
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content, sort_keys=True, default=str)
    return None


def request_key(messages: list) -> str:
    """What a request said, as a digest: comparing turns needs no copy of every (large) request kept."""
    if not messages:
        return ""
    norm = json.dumps([{k: m.get(k) for k in ("role", "content", "tool_call_id")} for m in messages if isinstance(m, dict)],
                      sort_keys=True, default=str)
    return hashlib.sha256(norm.encode("utf-8", "replace")).hexdigest()


def _from_calls(path: Path, *, first_user: str | None, account: str | None) -> Recording | None:
    responses, requests = [], []
    for entry in iter_calls(path):
        response = entry.get("response")
        if not isinstance(response, dict):
            continue  # a failed call: the agent was not answered, its retry is the next line
        request = entry.get("request") if isinstance(entry.get("request"), dict) else {}
        messages = request.get("messages") if isinstance(request.get("messages"), list) else []
        if account is not None and account not in accounts_of(entry):
            continue
        if first_user is not None and opening(messages) != first_user:
            continue
        responses.append({"raw": response})
        requests.append(request_key(messages))
    if not responses:
        return None
    return Recording(responses, requests, str(path))


def _from_trajectory(trajectory: Trajectory, source: str) -> Recording | None:
    responses, requests = [], []
    messages = [m.to_json() for m in trajectory.messages]
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        reply = {key: message[key] for key in ("role", "content", "tool_calls") if key in message}
        responses.append({"raw": {
            "id": f"chatcmpl-replay-{len(responses) + 1}", "object": "chat.completion", "created": 0,
            "model": "replay", "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            "choices": [{"index": 0, "message": reply,
                         "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}]}})
        requests.append(request_key(messages[:k]))
    if not responses:
        return None
    return Recording(responses, requests, source + " (assistant messages)")


def load_recording(task_dir: Path, run_dir: Path, trajectory: Trajectory | None, *, log: Path | None = None,
                   account: str | None = None) -> Recording:
    """The recorded responses of the run in `task_dir`; BadInput when there is nothing to replay."""
    first_user = opening([m.to_json() for m in trajectory.messages]) if trajectory is not None else None
    if log is not None:
        if not Path(log).is_file():
            raise BadInput(f"--log {log}: no such file", hint="give an llm_calls.jsonl")
        got = _from_calls(Path(log), first_user=first_user, account=account)
        if got is None:
            raise BadInput(f"--log {log} holds no response of this run", hint="check --account or the file")
        return got
    own = task_dir / "llm_calls.jsonl"
    if own.is_file():
        got = _from_calls(own, first_user=None, account=account)
        if got is not None:
            return got
    if first_user is not None:
        got = _from_calls(run_dir / "llm_calls.jsonl", first_user=first_user, account=account)
        if got is not None:
            return got
    if trajectory is not None:
        got = _from_trajectory(trajectory, str(task_dir / "trajectory.json"))
        if got is not None:
            return got
    raise BadInput(f"no recorded model calls for the run in {task_dir}",
                   hint="replay from a task the loop ran (it keeps trajectory.json and the call log)")


def first_divergence(recorded: list[str], replayed: list[str]) -> int | None:
    """1-based index of the first model turn whose request differs from the recording (None: none)."""
    for k, (a, b) in enumerate(zip(recorded, replayed)):
        if a and a != b:
            return k + 1
    if len(replayed) != len(recorded):
        return min(len(recorded), len(replayed)) + 1
    return None
