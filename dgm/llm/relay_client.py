"""A stdlib client for the relay's unix socket, for host-side tools, tests and benchmarks."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over AF_UNIX."""

    def __init__(self, socket_path: Path | str, timeout: float = 600.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = str(socket_path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


@dataclass
class RelayReply:
    status: int
    body: dict[str, Any]


class RelayClient:
    """Sends OpenAI-format requests to a relay socket with a bearer token."""

    def __init__(self, socket_path: Path | str, token: str | None, *, timeout: float = 600.0) -> None:
        self.socket_path = Path(socket_path)
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: dict | bytes | None = None) -> RelayReply:
        conn = UnixHTTPConnection(self.socket_path, timeout=self.timeout)
        try:
            headers = {"Content-Type": "application/json"}
            if self.token is not None:
                headers["Authorization"] = f"Bearer {self.token}"
            data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                parsed = json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                parsed = {"raw": raw.decode("utf-8", "replace")}
            return RelayReply(response.status, parsed)
        finally:
            conn.close()

    def chat(self, messages: list[dict], **params: Any) -> RelayReply:
        return self.request("POST", "/v1/chat/completions", {"model": "relay", "messages": messages, **params})

    def usage(self) -> RelayReply:
        return self.request("GET", "/v1/usage")
