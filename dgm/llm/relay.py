"""Host-side OpenAI-compatible relay on a unix socket: sandboxes call models with a token, never a key.

Every limit here is per token or per peer, so one sandbox cannot starve another: open connections per
peer (relay_server), calls in flight per token, request body bytes in flight, bytes recorded per token.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Sequence

from dgm.errors import BudgetExceeded, ModelError
from dgm.llm.gateway import Gateway, InvalidRequest
from dgm.llm.recording import RecordQuota
from dgm.llm.relay_request import (IMAGE_MARGIN_TOKENS, MAX_JSON_DEPTH, MAX_JSON_ITEMS, RELAY_PARAMS, image_count, json_shape,
                                   relay_params, request_problem)
from dgm.llm.relay_server import (HEADER_SECONDS, MAX_CONNECTIONS, PEER_CONNECTIONS, UnixHTTPServer, body_seconds,
                                  serve_unix)

__all__ = ["Grant", "Relay", "RELAY_PARAMS", "SOCKET_NAME", "error_body", "request_problem"]

SOCKET_NAME = "relay.sock"
# A 1M-token context is ~4 MB of text; bigger bodies cost host memory, not capability.
MAX_BODY_BYTES = 4 * 1024 * 1024
BODY_BUDGET_BYTES = 96 * 1024 * 1024   # request bodies held at once, all tokens together
TOKEN_CALLS = 4                         # calls in flight per token (an agent makes one at a time)
RECORD_QUOTA_BYTES = 64 * 1024 * 1024   # bytes a token may make the host record before bodies are dropped
DRAIN_LIMIT = 64 * 1024 * 1024         # a token's refused body up to this size is read (and dropped) so the
PREAUTH_DRAIN = 64 * 1024               # client sees the answer; before a token is known, far less
# sun_path is 108 bytes on Linux, including the terminating NUL
MAX_SOCKET_PATH = 107


@dataclass
class Grant:
    """What a token may do: charge these accounts, as this role, recording here too."""

    accounts: list[str]
    role: str
    budget_usd: float | None
    record_path: Path | None
    meta: dict[str, Any] = field(default_factory=dict)
    quota: RecordQuota = field(default_factory=lambda: RecordQuota(RECORD_QUOTA_BYTES))
    calls: int = 0   # in flight, guarded by the relay's lock

    @property
    def account(self) -> str:
        return self.accounts[0]


class Relay:
    """A thread-per-connection HTTP server on socket_dir/relay.sock; mount socket_dir at /run/dgm."""

    def __init__(self, gateway: Gateway, socket_dir: Path, *, max_body_bytes: int = MAX_BODY_BYTES,
                 max_connections: int = MAX_CONNECTIONS, peer_connections: int = PEER_CONNECTIONS,
                 token_calls: int = TOKEN_CALLS, record_quota_bytes: int = RECORD_QUOTA_BYTES,
                 body_budget_bytes: int = BODY_BUDGET_BYTES) -> None:
        self.gateway = gateway
        self.socket_dir = Path(socket_dir)
        self.socket_path = self.socket_dir / SOCKET_NAME
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise ModelError(f"relay socket path {self.socket_path} is longer than {MAX_SOCKET_PATH} bytes",
                             hint="use a shorter socket directory, e.g. under /tmp")
        self.max_body_bytes = max_body_bytes
        self.max_connections = max_connections
        self.peer_connections = peer_connections
        self.token_calls = token_calls
        self.record_quota_bytes = record_quota_bytes
        self.body_budget_bytes = max(body_budget_bytes, max_body_bytes)
        self._body_bytes = 0
        self._grants: dict[str, Grant] = {}
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        self._server: UnixHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def issue_token(self, account: str | Sequence[str], *, role: str = "task", budget_usd: float | None = None,
                    record_path: Path | None = None, meta: dict[str, Any] | None = None) -> str:
        """A fresh bearer token charging `account` (first = primary; "run" is always charged too)."""
        accounts = [account] if isinstance(account, str) else [a for a in account if a]
        if not accounts:
            raise ModelError("a relay token needs an account")
        self.gateway.settings_for(role)  # unknown role: fail now, not inside the sandbox
        if budget_usd is not None:
            self.gateway.ledger.set_cap(accounts[0], budget_usd)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._grants[token] = Grant(accounts, role, budget_usd,
                                        Path(record_path) if record_path is not None else None, dict(meta or {}),
                                        RecordQuota(self.record_quota_bytes))
        return token

    def revoke(self, token: str) -> None:
        """Refuse this token from now on (calls in flight finish)."""
        with self._lock:
            if self._grants.pop(token, None) is not None:
                self._revoked.add(token)

    def set_peer_connections(self, limit: int) -> None:
        """Open connections one peer group may hold. The relay gate's streams all come from this process
        (one group), so it widens the cap; the node relays keep the per-container one."""
        self.peer_connections = limit
        if self._server is not None:
            self._server.peer_connections = limit

    def grant(self, token: str) -> Grant | None:
        with self._lock:
            return self._grants.get(token)

    def is_revoked(self, token: str) -> bool:
        with self._lock:
            return token in self._revoked

    def _enter(self, grant: Grant) -> bool:
        with self._lock:
            if grant.calls >= self.token_calls:
                return False
            grant.calls += 1
            return True

    def _leave(self, grant: Grant) -> None:
        with self._lock:
            grant.calls -= 1

    def _take_bytes(self, n: int) -> bool:
        with self._lock:
            if self._body_bytes + n > self.body_budget_bytes:
                return False
            self._body_bytes += n
            return True

    def _give_bytes(self, n: int) -> None:
        with self._lock:
            self._body_bytes -= n

    def start(self) -> "Relay":
        if self._server is not None:
            return self
        self._server, self._thread = serve_unix(self.socket_dir, self.socket_path, _handler_for(self),
                                                name="dgm-relay", peer_connections=self.peer_connections,
                                                max_connections=self.max_connections)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        try:
            self.socket_path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> "Relay":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def error_body(status: int, message: str, kind: str) -> dict:
    """OpenAI-shaped error JSON, which standard clients surface verbatim."""
    return {"error": {"message": message, "type": kind, "code": status}}


def _handler_for(relay: Relay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30  # a backstop per read or write; the deadlines bound whole requests

        def address_string(self) -> str:
            return "unix"  # unix sockets have no peer address

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _deadline(self, seconds: float | None) -> None:
            self.server.deadlines.set(self.connection, seconds)  # type: ignore[attr-defined]

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except Exception:  # a broken client or a bug: answer if we still can, never print
                self.close_connection = True
                try:
                    self._fail(500, "relay error", "relay_error")
                except Exception:
                    pass
            self._deadline(HEADER_SECONDS)  # the next request on this connection has as long as the first

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)

        def _fail(self, status: int, message: str, kind: str, *, drain: int = 0, limit: int = DRAIN_LIMIT) -> None:
            if 0 < drain <= limit:  # read a refused body in chunks (no memory), so the client sees our answer
                while drain > 0:
                    chunk = self.rfile.read(min(drain, 1 << 16))
                    if not chunk:
                        break
                    drain -= len(chunk)
            if drain:
                self.close_connection = True  # too large to drain, or cut short
            self._send(status, error_body(status, message, kind))

        def _authorize(self, drain: int = 0) -> tuple[str, Grant] | None:
            header = self.headers.get("Authorization") or ""
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                self._fail(401, "missing bearer token (Authorization: Bearer $DGM_RELAY_TOKEN)",
                           "authentication_error", drain=drain, limit=PREAUTH_DRAIN)
                return None
            grant = relay.grant(token)
            if grant is None:
                why = "revoked" if relay.is_revoked(token) else "unknown"
                self._fail(401, f"relay token {why}", "authentication_error", drain=drain, limit=PREAUTH_DRAIN)
                return None
            return token, grant

        def _usage(self, grant: Grant) -> dict:
            ledger = relay.gateway.ledger
            usage = ledger.usage(grant.account).to_dict()
            return {"account": grant.account, "role": grant.role, "model": relay.gateway.settings_for(grant.role).model,
                    **usage, "budget_usd": ledger.cap(grant.account), "remaining_usd": ledger.remaining(grant.account),
                    "recorded_bytes": grant.quota.used}

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._deadline(None)
            auth = self._authorize()
            if auth is None:
                return
            path = self.path.split("?", 1)[0].rstrip("/")
            if path == "/v1/usage":
                self._send(200, self._usage(auth[1]))
            elif path == "/v1/models":
                model = relay.gateway.settings_for(auth[1].role).model
                self._send(200, {"object": "list", "data": [{"id": model, "object": "model", "owned_by": "dgm"}]})
            else:
                self._fail(404, f"no route {self.path}", "not_found_error")

        def do_POST(self) -> None:  # noqa: N802
            try:
                length = int(self.headers.get("Content-Length") or "-1")
            except ValueError:
                length = -1
            auth = self._authorize(drain=length)  # still under the header deadline: no token, no more time
            if auth is None:
                return
            grant = auth[1]
            self._deadline(body_seconds(max(0, min(length, DRAIN_LIMIT))))
            if self.path.split("?", 1)[0].rstrip("/") != "/v1/chat/completions":
                self._fail(404, f"no route {self.path}", "not_found_error", drain=length)
                return
            if length < 0:
                self.close_connection = True
                self._fail(411, "Content-Length required", "invalid_request_error")
                return
            if length > relay.max_body_bytes:
                self._fail(413, f"request body of {length} bytes is over the relay limit of "
                                f"{relay.max_body_bytes} bytes", "request_too_large", drain=length)
                return
            if grant.quota.exhausted:
                self._fail(403, f"this token has recorded {grant.quota.used} bytes, over its limit of "
                                f"{grant.quota.hard}: no further calls", "recording_limit_reached", drain=length)
                return
            if not relay._enter(grant):
                self._fail(429, f"too many calls in flight for this token (limit {relay.token_calls})",
                           "rate_limit_error", drain=length)
                return
            try:
                if not relay._take_bytes(length):
                    self._fail(503, "relay busy: too many request bytes in flight", "overloaded", drain=length)
                    return
                try:
                    self._complete(grant, length)
                finally:
                    relay._give_bytes(length)
            finally:
                relay._leave(grant)

        def _complete(self, grant: Grant, length: int) -> None:
            raw = self.rfile.read(length)
            if len(raw) < length:
                self.close_connection = True  # cut by its deadline, or the client went away
                return
            self._deadline(None)  # the model call may take minutes; the client just waits
            depth, items = json_shape(raw)
            if depth > MAX_JSON_DEPTH:
                self._fail(400, f"request JSON nests deeper than {MAX_JSON_DEPTH} levels", "invalid_request_error")
                return
            if items > MAX_JSON_ITEMS:
                self._fail(400, f"request JSON has more than {MAX_JSON_ITEMS} values", "invalid_request_error")
                return
            try:
                request = json.loads(raw)
            except (ValueError, RecursionError):
                self._fail(400, "request body is not JSON", "invalid_request_error")
                return
            del raw  # the parsed request is all we keep: one copy of the body, not two
            problem = request_problem(request)
            if problem:
                self._fail(400, problem, "invalid_request_error")
                return
            messages = request["messages"]
            prompt_bytes = length + IMAGE_MARGIN_TOKENS * image_count(messages)
            try:
                response = relay.gateway.complete(
                    grant.role, messages, tools=request.get("tools") or None, tool_choice=request.get("tool_choice"),
                    account=grant.accounts, record_to=grant.record_path, prompt_bytes=prompt_bytes,
                    quota=grant.quota, **relay_params(request))
            except InvalidRequest as exc:
                self._fail(400, str(exc), "invalid_request_error")
                return
            except BudgetExceeded as exc:
                self._fail(402, str(exc), "budget_exceeded")
                return
            except ModelError as exc:
                self._fail(502, str(exc), "provider_error")
                return
            except Exception as exc:  # the relay must answer, whatever broke
                self._fail(500, f"relay error: {type(exc).__name__}", "relay_error")
                return
            self._send(200, response)

    return Handler
