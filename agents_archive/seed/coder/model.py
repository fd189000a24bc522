"""The model client: OpenAI chat completions over the relay's unix socket (or a plain URL)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
import urllib.parse
from typing import Any, Dict, List, Optional


class ModelError(Exception):
    """The model could not be reached or answered with something unusable."""


class BudgetExhausted(Exception):
    """The relay refused the call because the dollar budget is spent (HTTP 402)."""


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP/1.1 over a unix socket: the relay lives on a socket mounted into the sandbox."""

    def __init__(self, socket_path: str, timeout: float = 300.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class Model:
    """Sends chat-completion requests; counts tokens and dollars over the whole run."""

    def __init__(self, *, socket_path: Optional[str] = None, base_url: Optional[str] = None,
                 token: str = "", model: str = "default", timeout: float = 300.0,
                 retries: int = 2, retry_wait: float = 1.0) -> None:
        if not socket_path and not base_url:
            raise ModelError("no model endpoint: set DGM_RELAY_SOCKET or DGM_MODEL_URL")
        self.socket_path = socket_path
        self.base_url = base_url
        self.token = token
        self.model = model
        self.timeout = timeout
        self.retries = retries
        self.retry_wait = retry_wait
        self.usage = {"tokens_in": 0, "tokens_out": 0, "cost_usd": 0.0, "calls": 0}

    @classmethod
    def from_env(cls, env: Optional[Dict[str, str]] = None) -> "Model":
        env = dict(os.environ if env is None else env)
        return cls(socket_path=env.get("DGM_RELAY_SOCKET") or None,
                   base_url=None if env.get("DGM_RELAY_SOCKET") else env.get("DGM_MODEL_URL"),
                   token=env.get("DGM_RELAY_TOKEN") or env.get("DGM_MODEL_API_KEY") or "",
                   model=env.get("DGM_MODEL") or "default")

    def complete(self, messages: List[Dict[str, Any]], tools: List[Dict[str, Any]]) -> Dict[str, Any]:
        """One completion; returns {"message": assistant message dict, "usage": this call's usage}."""
        body = json.dumps({"model": self.model, "messages": messages, "tools": tools,
                           "tool_choice": "auto"}).encode()
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.retry_wait * attempt)
            try:
                status, data = self._post("/chat/completions", body)
            except (OSError, http.client.HTTPException) as exc:
                last = "connection failed: %s" % exc
                continue
            if status == 402:
                raise BudgetExhausted(_error_text(data) or "budget exhausted")
            if status >= 500 or status == 429:
                last = "HTTP %d: %s" % (status, _error_text(data))
                continue
            if status != 200:
                raise ModelError("HTTP %d: %s" % (status, _error_text(data)))
            return self._parse(data)
        raise ModelError("model unavailable after %d attempts (%s)" % (self.retries + 1, last))

    def _post(self, path: str, body: bytes):
        headers = {"Content-Type": "application/json", "Authorization": "Bearer %s" % self.token}
        if self.socket_path:
            conn: http.client.HTTPConnection = UnixHTTPConnection(self.socket_path, timeout=self.timeout)
            url = "/v1" + path
        else:
            parsed = urllib.parse.urlparse(self.base_url or "")
            conn_cls = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
            conn = conn_cls(parsed.netloc, timeout=self.timeout)
            url = parsed.path.rstrip("/") + path
        try:
            conn.request("POST", url, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def _parse(self, data: bytes) -> Dict[str, Any]:
        try:
            reply = json.loads(data)
            message = reply["choices"][0]["message"]
            if not isinstance(message, dict):
                raise TypeError("message is not an object")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise ModelError("unusable model reply (%s): %r" % (exc, data[:300])) from None
        usage = reply.get("usage") or {}
        call = {"tokens_in": int(usage.get("prompt_tokens") or 0),
                "tokens_out": int(usage.get("completion_tokens") or 0),
                "cost_usd": float(usage.get("cost_usd") or usage.get("cost") or 0.0)}
        self.usage["tokens_in"] += call["tokens_in"]
        self.usage["tokens_out"] += call["tokens_out"]
        self.usage["cost_usd"] += call["cost_usd"]
        self.usage["calls"] += 1
        clean = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            clean["tool_calls"] = message["tool_calls"]
        return {"message": clean, "usage": call}


def _error_text(data: bytes) -> str:
    try:
        err = json.loads(data).get("error")
        return str(err.get("message") if isinstance(err, dict) else err)[:500]
    except (ValueError, AttributeError):
        return data[:300].decode("utf-8", "replace")
