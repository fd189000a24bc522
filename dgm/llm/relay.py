"""Host-side OpenAI-compatible relay on a unix socket: sandboxes call models with a token, never a key."""

from __future__ import annotations

import json
import os
import secrets
import socketserver
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Sequence

from dgm.errors import BudgetExceeded, ModelError
from dgm.llm.gateway import PASS_THROUGH, Gateway

SOCKET_NAME = "relay.sock"
MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_CONNECTIONS = 256
REFUSE_SECONDS = 2.0
DISCARD_LIMIT = 64 * 1024 * 1024  # refused bodies up to this size are drained; bigger ones cut the connection
# sun_path is 108 bytes on Linux, including the terminating NUL
MAX_SOCKET_PATH = 107
RELAY_PARAMS = PASS_THROUGH - {"n", "user"}


@dataclass
class Grant:
    """What a token may do: charge these accounts, as this role, recording here too."""

    accounts: list[str]
    role: str
    budget_usd: float | None
    record_path: Path | None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def account(self) -> str:
        return self.accounts[0]


class Relay:
    """A thread-per-request HTTP server on socket_dir/relay.sock; mount socket_dir at /run/dgm."""

    def __init__(self, gateway: Gateway, socket_dir: Path, *, max_body_bytes: int = MAX_BODY_BYTES,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        self.gateway = gateway
        self.socket_dir = Path(socket_dir)
        self.socket_path = self.socket_dir / SOCKET_NAME
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH:
            raise ModelError(f"relay socket path {self.socket_path} is longer than {MAX_SOCKET_PATH} bytes",
                             hint="use a shorter socket directory, e.g. under /tmp")
        self.max_body_bytes = max_body_bytes
        self.max_connections = max_connections
        self._grants: dict[str, Grant] = {}
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        self._server: _UnixHTTPServer | None = None
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
                                        Path(record_path) if record_path is not None else None, dict(meta or {}))
        return token

    def revoke(self, token: str) -> None:
        """Refuse this token from now on (calls in flight finish)."""
        with self._lock:
            if self._grants.pop(token, None) is not None:
                self._revoked.add(token)

    def grant(self, token: str) -> Grant | None:
        with self._lock:
            return self._grants.get(token)

    def is_revoked(self, token: str) -> bool:
        with self._lock:
            return token in self._revoked

    def start(self) -> "Relay":
        if self._server is not None:
            return self
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.socket_dir, 0o755)
        if self.socket_path.exists() or self.socket_path.is_symlink():
            self.socket_path.unlink()  # a stale socket from a crashed run
        server = _UnixHTTPServer(str(self.socket_path), _handler_for(self), bind_and_activate=False)
        server.max_connections = self.max_connections
        server.busy_handler = _busy_handler()
        try:
            server.server_bind()
            server.server_activate()
        except BaseException:
            server.server_close()
            raise
        self._server = server
        os.chmod(self.socket_path, 0o666)  # the sandbox user (uid 1000) must connect; the token is the guard
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="dgm-relay", daemon=True)
        self._thread.start()
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


class _UnixHTTPServer(socketserver.ThreadingUnixStreamServer):
    """A thread per connection, at most `max_connections` at once: a sandbox cannot exhaust the host."""

    daemon_threads = True          # a hung call must not block shutdown
    block_on_close = False
    max_connections = MAX_CONNECTIONS

    def server_activate(self) -> None:
        self._slots = threading.BoundedSemaphore(self.max_connections)
        super().server_activate()

    busy_handler: type[BaseHTTPRequestHandler]

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            # Still read the request (briefly) before answering, so the client sees the 503, not a broken pipe.
            threading.Thread(target=self._refuse, args=(request, client_address), daemon=True).start()
            return
        super().process_request(request, client_address)

    def _refuse(self, request: Any, client_address: Any) -> None:
        try:
            self.busy_handler(request, client_address, self)
        except Exception:
            pass
        finally:
            self.shutdown_request(request)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def error_body(status: int, message: str, kind: str) -> dict:
    """OpenAI-shaped error JSON, which standard clients surface verbatim."""
    return {"error": {"message": message, "type": kind, "code": status}}


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
    if request.get("tools") is not None and not isinstance(request["tools"], list):
        return "'tools' must be a list"
    return None


def _busy_handler() -> type[BaseHTTPRequestHandler]:
    class Busy(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = REFUSE_SECONDS

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _refuse(self) -> None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = 0
            if 0 < length <= DISCARD_LIMIT:
                self.rfile.read(length)
            data = json.dumps(error_body(503, "relay busy: too many open connections", "overloaded")).encode()
            self.close_connection = True
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _refuse  # noqa: N815 - http.server's naming

    return Busy


def _handler_for(relay: Relay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 60  # an idle or stalled client does not hold a thread (and a connection slot) forever

        def address_string(self) -> str:
            return "unix"  # unix sockets have no peer address

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _fail(self, status: int, message: str, kind: str) -> None:
            self._send(status, error_body(status, message, kind))

        def _discard(self, length: int) -> None:
            """Read and drop a refused body so the client sees our answer, not a broken pipe."""
            if length < 0 or length > DISCARD_LIMIT:
                self.close_connection = True
                return
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                if not chunk:
                    break
                length -= len(chunk)

        def _authorize(self, discard: int = 0) -> tuple[str, Grant] | None:
            header = self.headers.get("Authorization") or ""
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                self._discard(discard)
                self._fail(401, "missing bearer token (Authorization: Bearer $DGM_RELAY_TOKEN)", "authentication_error")
                return None
            grant = relay.grant(token)
            if grant is None:
                why = "revoked" if relay.is_revoked(token) else "unknown"
                self._discard(discard)
                self._fail(401, f"relay token {why}", "authentication_error")
                return None
            return token, grant

        def _usage(self, grant: Grant) -> dict:
            ledger = relay.gateway.ledger
            usage = ledger.usage(grant.account).to_dict()
            return {"account": grant.account, "role": grant.role, "model": relay.gateway.settings_for(grant.role).model,
                    **usage, "budget_usd": ledger.cap(grant.account), "remaining_usd": ledger.remaining(grant.account)}

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
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
            auth = self._authorize(discard=length)
            if auth is None:
                return
            _, grant = auth
            if self.path.split("?", 1)[0].rstrip("/") != "/v1/chat/completions":
                self._discard(length)
                self._fail(404, f"no route {self.path}", "not_found_error")
                return
            if length < 0:
                self.close_connection = True
                self._fail(411, "Content-Length required", "invalid_request_error")
                return
            if length > relay.max_body_bytes:
                self._discard(length)
                self._fail(413, f"request body of {length} bytes is over the relay limit of "
                                f"{relay.max_body_bytes} bytes", "request_too_large")
                return
            try:
                request = json.loads(self.rfile.read(length))
            except (json.JSONDecodeError, UnicodeDecodeError):
                self._fail(400, "request body is not JSON", "invalid_request_error")
                return
            problem = request_problem(request)
            if problem:
                self._fail(400, problem, "invalid_request_error")
                return
            messages = request["messages"]
            if request.get("stream"):
                self._fail(400, "streaming is not supported by the relay: send stream=false", "invalid_request_error")
                return
            params = {k: request[k] for k in RELAY_PARAMS if request.get(k) is not None}
            try:
                response = relay.gateway.complete(
                    grant.role, messages, tools=request.get("tools") or None, tool_choice=request.get("tool_choice"),
                    account=grant.accounts, record_to=grant.record_path, **params)
            except BudgetExceeded as exc:
                self._fail(402, str(exc), "budget_exceeded")
                return
            except ModelError as exc:
                self._fail(502, str(exc), "provider_error")
                return
            except Exception as exc:  # the relay must answer, whatever broke
                self._fail(500, f"relay error: {type(exc).__name__}: {exc}", "relay_error")
                return
            self._send(200, response)

    return Handler
