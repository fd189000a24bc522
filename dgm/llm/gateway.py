"""The one place that calls models: litellm with tenacity retries, accounting, budgets and recording."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from dgm.errors import BadInput, ModelError
from dgm.llm import recording
from dgm.llm.backend import load_litellm
from dgm.llm.ledger import RUN, Ledger
from dgm.llm.pricing import Price, freeze_prices
from dgm.llm.retry import MalformedResponse, backoff_seconds, is_retryable, status_of
from dgm.llm.settings import ModelSettings, ModelSettingsError

# Parameters a caller may pass through to the provider; model, api_base and keys are ours to set.
PASS_THROUGH = {"temperature", "max_tokens", "max_completion_tokens", "top_p", "stop", "seed", "response_format",
                "parallel_tool_calls", "presence_penalty", "frequency_penalty", "n", "user"}
DEFAULT_ROLE = "default"
DEFAULT_MAX_OUTPUT = 4096   # output ceiling of a priced role when neither the settings nor litellm give one
PROMPT_MARGIN_TOKENS = 1024  # providers add their own prompt text (tool-use preambles) to what we send
MAX_N = 8


class InvalidRequest(ModelError, BadInput):
    """A call's parameters are out of bounds (the relay answers 400); nothing was sent or charged."""


class Gateway:
    """Per-role model calls; every exchange is priced, charged to accounts, and recorded."""

    def __init__(self, roles: Mapping[str, ModelSettings], *, run_dir: Path | None = None,
                 budget_usd: float | None = None, record_path: Path | None = None,
                 restore: bool = True) -> None:
        if not roles:
            raise ModelSettingsError("no model roles configured", hint="give at least one role, e.g. 'task'")
        self.roles: dict[str, ModelSettings] = {
            name: s if isinstance(s, ModelSettings) else ModelSettings.from_dict(s) for name, s in roles.items()}
        for settings in self.roles.values():
            if settings.api_key_env:
                settings.api_key()  # a missing key variable fails now, before any work is spent
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.prices: dict[str, Price] = freeze_prices(self.roles.values(), self.run_dir)
        self.ledger = Ledger(budget_usd=budget_usd)
        self._ceilings: dict[str, int | None] = {}
        if record_path is None and self.run_dir is not None:
            record_path = self.run_dir / recording.CALLS_FILE
        self.record_path = Path(record_path) if record_path is not None else None
        if restore and self.record_path is not None:
            self.ledger.load_recording(self.record_path)  # a resumed run keeps counting from where it was
        if self.record_path is not None:
            _end_torn_line(self.record_path)

    def settings_for(self, role: str) -> ModelSettings:
        settings = self.roles.get(role) or self.roles.get(DEFAULT_ROLE)
        if settings is None:
            raise ModelSettingsError(f"no model configured for role {role!r}",
                                     hint=f"configured roles: {', '.join(sorted(self.roles))}")
        return settings

    def output_ceiling(self, settings: ModelSettings) -> int | None:
        """Completion tokens a call may ask for at most: the settings', else the model's, else a default.

        None for an unpriced role without a setting: nothing is reserved, so nothing needs bounding.
        """
        if settings.max_tokens is not None:
            return settings.max_tokens
        if settings.model not in self._ceilings:
            price = self.prices[settings.model]
            if price.input_per_token == 0 and price.output_per_token == 0:
                self._ceilings[settings.model] = None
            else:
                self._ceilings[settings.model] = _model_max_output(settings.model) or DEFAULT_MAX_OUTPUT
        return self._ceilings[settings.model]

    def complete(self, role: str, messages: list[dict], *, tools: list | None = None, tool_choice: Any = None,
                 account: str | Sequence[str] | None = None, record_to: Path | None = None,
                 prompt_bytes: int | None = None, quota: recording.RecordQuota | None = None,
                 **kw: Any) -> dict:
        """One chat completion as an OpenAI-shaped dict; BudgetExceeded if its worst case does not fit a cap.

        `prompt_bytes` bounds the prompt's size when the caller knows it (the relay: the body's length);
        `quota` bounds what this caller may make the host record.
        """
        settings = self.settings_for(role)
        accounts = _accounts(account)
        self.ledger.check(accounts)
        params = self._params(settings, kw)
        # A host caller's refusal ends the budget (the loop stops); a sandbox's (it gives prompt_bytes) ends it
        # only if its smallest call would not fit either: one oversized request must not end a shared budget.
        host_caller = prompt_bytes is None
        if prompt_bytes is None:
            prompt_bytes = len(json.dumps(messages, default=str)) + len(json.dumps(tools or [], default=str))
        price = self.prices[settings.model]
        worst_in = prompt_bytes + PROMPT_MARGIN_TOKENS  # a token is at least a byte of what we send
        worst_out = (params.get("max_tokens") or 0) * int(params.get("n") or 1)
        ceiling_out = (self.output_ceiling(settings) or 0) * int(params.get("n") or 1)
        hold = self.ledger.reserve(accounts, usd=price.cost(worst_in, worst_out), prompt_tokens=worst_in,
                                   completion_tokens=worst_out,
                                   floor_usd=None if host_caller else
                                   price.cost(PROMPT_MARGIN_TOKENS, max(worst_out, ceiling_out)))
        started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        journal = recording.journal_path(self.record_path) if self.record_path is not None else None
        response: dict | None = None
        error: str | None = None
        attempts = [0]
        start = time.monotonic()
        try:
            if journal is not None:  # written before the call: a crash now still counts the call
                n = recording.append_json(journal, {
                    "call_id": hold.id, "ts": started_at, "role": role, "model": settings.model,
                    "accounts": hold.accounts, "reserved_usd": hold.usd, "prompt_tokens": worst_in,
                    "completion_tokens": worst_out})
                if quota is not None:
                    quota.add(n)
            load_litellm()  # the first call would otherwise count seconds of import as latency
            start = time.monotonic()
            response = self._call(settings, messages, tools, tool_choice, params, attempts)
        except BaseException as exc:  # ModelError, or an interruption: the attempt is recorded either way
            error = str(exc) or type(exc).__name__
            raise
        finally:
            latency = time.monotonic() - start
            usage = _usage(response)
            if response is not None and response["usage"].get("estimated"):
                usage["estimated"] = True
            cost = price.cost(usage["prompt_tokens"], usage["completion_tokens"])
            self.ledger.settle(hold, prompt_tokens=usage["prompt_tokens"],
                               completion_tokens=usage["completion_tokens"], usd=cost, seconds=latency,
                               error=response is None)
            exchange = recording.Exchange(
                ts=started_at, role=role, account=accounts[0] if accounts else RUN, accounts=accounts or [RUN],
                model=settings.model,
                request={"messages": messages, "tools": tools, "tool_choice": tool_choice, "params": params},
                response=response, usage=usage, cost_usd=cost, latency_s=round(latency, 6),
                attempts=attempts[0], error=error if response is None else None, call_id=hold.id)
            self._record(exchange, record_to, prompt_bytes, quota)
        return response

    def _params(self, settings: ModelSettings, kw: dict[str, Any]) -> dict[str, Any]:
        """The provider parameters: the caller's, with the role's output ceiling enforced, not overridable."""
        unknown = set(kw) - PASS_THROUGH
        if unknown:
            raise ModelError(f"unsupported completion parameter(s) {', '.join(sorted(unknown))}",
                             hint=f"allowed: {', '.join(sorted(PASS_THROUGH))}")
        asked = [kw.pop(k) for k in ("max_tokens", "max_completion_tokens") if kw.get(k) is not None]
        for value in asked:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidRequest(f"max_tokens must be a positive integer, not {str(value)[:40]!r}")
        n = kw.get("n")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N):
            raise InvalidRequest(f"n must be an integer from 1 to {MAX_N}, not {str(n)[:40]!r}")
        ceiling = self.output_ceiling(settings)
        limits = [v for v in (ceiling, *asked) if v is not None]
        params: dict[str, Any] = {"temperature": settings.temperature, "max_tokens": min(limits) if limits else None}
        params.update(kw)
        return {k: v for k, v in params.items() if v is not None}

    def _record(self, exchange: recording.Exchange, record_to: Path | None, prompt_bytes: int,
                quota: recording.RecordQuota | None) -> None:
        """The body once: in the caller's own file when it has one, else in the run's; the run names the other."""
        own = Path(record_to) if record_to is not None else None
        if own is not None and self.record_path is not None and os.path.abspath(own) == os.path.abspath(
                self.record_path):
            own = None
        full = exchange
        if quota is not None and not quota.bodies_fit(prompt_bytes):
            full = replace(exchange, request=_summary(exchange.request, prompt_bytes,
                                                      f"request body omitted: this token's recording quota of "
                                                      f"{quota.soft} bytes is spent"))
        written = 0
        if own is not None:
            written += recording.append(own, full)
            if self.record_path is not None:
                written += recording.append(self.record_path, replace(
                    exchange, request=_summary(exchange.request, prompt_bytes, None, recorded_in=str(own))))
        elif self.record_path is not None:
            written += recording.append(self.record_path, full)
        if quota is not None:
            quota.add(written)

    def _call(self, settings: ModelSettings, messages: list[dict], tools: list | None, tool_choice: Any,
              params: dict, attempts: list[int]) -> dict:
        import tenacity

        litellm = load_litellm()
        request: dict[str, Any] = {"model": settings.model, "messages": messages, "timeout": settings.timeout,
                                   "num_retries": 0, "max_retries": 0, "drop_params": True, **params}
        if tools:
            request["tools"] = tools
        if tool_choice is not None:
            request["tool_choice"] = tool_choice
        if settings.api_base:
            request["api_base"] = settings.api_base
        key = settings.api_key()
        if key is not None:
            request["api_key"] = key

        def attempt() -> dict:
            attempts[0] += 1
            response = normalize(litellm.completion(**request))
            if not response["usage"]["total_tokens"]:
                estimate_usage(litellm, settings.model, messages, tools, response)
            return response

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return backoff_seconds(state.attempt_number, exc, base=settings.retry_base_seconds,
                                   cap=settings.retry_max_seconds)

        retrying = tenacity.Retrying(stop=tenacity.stop_after_attempt(settings.max_retries + 1),
                                     retry=tenacity.retry_if_exception(is_retryable), wait=wait, reraise=True)
        try:
            return retrying(attempt)
        except ModelError:
            raise
        except Exception as exc:
            reason = redact(_reason(exc), [key] if key and key != "x" else [])
            if is_retryable(exc):
                raise ModelError(f"model {settings.model} failed after {attempts[0]} attempt(s): {reason}",
                                 hint="the provider kept failing; check it and resume") from exc
            raise ModelError(f"model {settings.model} refused the request: {reason}",
                             hint="not retried: fix the request, the key or the model settings") from exc


def normalize(response: Any) -> dict:
    """A plain OpenAI chat.completion dict from litellm's response; MalformedResponse if unusable."""
    data = response.model_dump() if hasattr(response, "model_dump") else dict(response)
    choices = []
    for i, choice in enumerate(data.get("choices") or []):
        message = choice.get("message") if isinstance(choice, Mapping) else None
        if not isinstance(message, Mapping):
            continue
        out: dict[str, Any] = {"role": message.get("role") or "assistant", "content": message.get("content")}
        calls = []
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            calls.append({"id": call.get("id"), "type": "function",
                          "function": {"name": function.get("name"), "arguments": function.get("arguments") or ""}})
        if calls:
            out["tool_calls"] = calls
        if message.get("reasoning_content"):
            out["reasoning_content"] = message["reasoning_content"]
        choices.append({"index": choice.get("index", i), "message": out, "finish_reason": choice.get("finish_reason")})
    if not choices:
        raise MalformedResponse(f"response without choices: {str(data)[:200]}")
    usage = _usage(data)
    return {"id": data.get("id"), "object": "chat.completion", "created": data.get("created"),
            "model": data.get("model"), "choices": choices,
            "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}}


def estimate_usage(litellm: Any, model: str, messages: list[dict], tools: list | None, response: dict) -> None:
    """Fill in token counts a provider did not report (some local servers): budgets must not see zero."""
    texts = []
    for choice in response["choices"]:
        message = choice["message"]
        texts.append(message.get("content") or "")
        for call in message.get("tool_calls") or []:
            texts.append(call["function"]["name"] + (call["function"]["arguments"] or ""))
    try:
        prompt = int(litellm.token_counter(model=model, messages=messages, tools=tools or None))
        completion = int(litellm.token_counter(model=model, text="\n".join(texts))) if any(texts) else 0
    except Exception:  # a tokenizer that cannot load offline: characters / 4 is the usual rule of thumb
        prompt = sum(len(str(m.get("content") or "")) for m in messages) // 4 + 1
        completion = sum(len(t) for t in texts) // 4
    response["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion,
                         "total_tokens": prompt + completion, "estimated": True}


def redact(text: str, secrets: list[str]) -> str:
    """Blank out keys a provider echoed back: error messages reach recordings and sandboxes."""
    for secret in secrets:
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def _usage(response: Mapping[str, Any] | None) -> dict[str, int]:
    usage = (response or {}).get("usage") or {}
    return {"prompt_tokens": int(usage.get("prompt_tokens") or 0),
            "completion_tokens": int(usage.get("completion_tokens") or 0)}


def _accounts(account: str | Sequence[str] | None) -> list[str]:
    if account is None:
        return []
    if isinstance(account, str):
        return [account]
    return [a for a in account if a]


def _reason(exc: BaseException) -> str:
    status = status_of(exc)
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "") + f": {text}"


def _summary(request: Mapping[str, Any], prompt_bytes: int, omitted: str | None, *,
             recorded_in: str | None = None) -> dict[str, Any]:
    """The request without its messages and tools: what a recording keeps when the body lives elsewhere."""
    out: dict[str, Any] = {"params": request.get("params"), "tool_choice": request.get("tool_choice"),
                           "body_bytes": prompt_bytes}
    if recorded_in is not None:
        out["recorded_in"] = recorded_in
    if omitted is not None:
        out["omitted"] = omitted
    return out


def _model_max_output(model: str) -> int | None:
    try:
        info = load_litellm().get_model_info(model)
    except Exception:  # unmapped models: the default ceiling applies
        return None
    value = info.get("max_output_tokens") or info.get("max_tokens")
    return int(value) if isinstance(value, (int, float)) and value > 0 else None


def _end_torn_line(path: Path) -> None:
    """A crash can leave half a line: end it, so the next exchange is not glued onto it and lost."""
    try:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
    except OSError:  # missing or empty
        return
    if torn:
        recording.write_chunks(path, [b"\n"])
