"""The relay on a worker node: containers there connect to its unix socket exactly as on the driver,
and each connection is piped, over the authenticated gate, to the driver's relay.

It holds no token, key or budget: it only counts connections per container (as the driver's relay
does) and moves bytes. Whatever a sandbox sends arrives at the driver's relay unchanged and is judged
there like any sandbox's request.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import socketserver
import tempfile
import threading
from pathlib import Path
from typing import Any

from dgm.llm.relay import SOCKET_NAME
from dgm.llm.relay_gate import GateRefused, client_handshake, pipe
from dgm.llm.relay_server import UnixHTTPServer, serve_unix

CONNECT_SECONDS = 10.0
# Per container: on the driver every node's streams share one peer group, so fairness between
# containers is kept here (an agent makes one call at a time; the relay allows 4 per token).
PEER_CONNECTIONS = 8


DIR_PREFIX = "dgm-node-relay-"


def _remove_dead_dirs() -> None:
    """Socket folders of worker processes that were killed (Ray ends them without running atexit)."""
    for path in Path("/tmp").glob(f"{DIR_PREFIX}*-*"):
        pid = path.name[len(DIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def _unavailable(sock: socket.socket, why: str) -> None:
    data = json.dumps({"error": {"message": f"relay unavailable: {why}", "type": "overloaded",
                                 "code": 503}}).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
    try:
        sock.sendall(head + data)
    except OSError:
        pass


class NodeRelay:
    """A unix-socket relay in SOCKET_DIR whose every connection goes to the gate at HOST:PORT."""

    def __init__(self, gate: tuple[str, int], secret: bytes, socket_dir: Path | None = None) -> None:
        self.gate = gate
        self.secret = secret
        self._own_dir = socket_dir is None
        if socket_dir is None:
            _remove_dead_dirs()
        self.socket_dir = Path(socket_dir or tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-", dir="/tmp"))
        self.socket_path = self.socket_dir / SOCKET_NAME
        self._server: UnixHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def connect_gate(self) -> socket.socket:
        """A fresh, authenticated connection to the driver's relay."""
        sock = socket.create_connection(self.gate, timeout=CONNECT_SECONDS)
        try:
            client_handshake(sock, self.secret)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except BaseException:
            sock.close()
            raise

    def start(self) -> "NodeRelay":
        node = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                # The driver's relay keeps the deadlines (headers, body); here a connection lives as long
                # as its stream to the driver does.
                self.server.deadlines.set(self.request, None)  # type: ignore[attr-defined]
                try:
                    upstream = node.connect_gate()
                except (OSError, GateRefused) as exc:
                    _unavailable(self.request, f"cannot reach the driver's relay ({type(exc).__name__})")
                    return
                try:
                    pipe(self.request, upstream)
                finally:
                    upstream.close()

        self._server, self._thread = serve_unix(self.socket_dir, self.socket_path, Handler, name="dgm-node-relay",
                                                peer_connections=PEER_CONNECTIONS)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._own_dir:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def __enter__(self) -> "NodeRelay":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
