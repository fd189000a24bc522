"""The relay's door for other hosts: a TCP endpoint that, after a mutual HMAC handshake on a per-run
secret, pipes each connection into the relay's unix socket.

Only the transport is new. What crosses it is the same HTTP a sandbox sends to the socket, so the
relay's checks (per-sandbox tokens, budgets, body caps, recording) apply unchanged, and no key leaves
this host. The bytes are authenticated at connect time, not encrypted: run clusters on a private
network (or a tunnel), as Ray itself requires.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

from dgm.errors import ModelError

MAGIC = b"DGMGATE1"
NONCE = 32
DIGEST = hashlib.sha256().digest_size
HANDSHAKE_SECONDS = 5.0
MAX_STREAMS = 1024      # open forwarded connections, all nodes together (the relay caps per token)
CHUNK = 1 << 16


class GateRefused(ModelError):
    """The other end did not prove it holds the run's secret."""


def _mac(secret: bytes, label: bytes, *parts: bytes) -> bytes:
    return hmac.new(secret, label + b"".join(parts), hashlib.sha256).digest()


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise GateRefused("the other end closed the connection during the handshake")
        data += chunk
    return data


def server_handshake(sock: socket.socket, secret: bytes) -> None:
    """Prove each side holds SECRET (nonces from both ends; nothing secret is sent)."""
    sock.settimeout(HANDSHAKE_SECONDS)
    ours = secrets.token_bytes(NONCE)
    sock.sendall(MAGIC + ours)
    theirs = _read_exact(sock, NONCE)
    proof = _read_exact(sock, DIGEST)
    if not hmac.compare_digest(proof, _mac(secret, b"node", ours, theirs)):
        raise GateRefused("a node failed the relay gate's handshake (wrong run secret)")
    sock.sendall(_mac(secret, b"driver", theirs, ours))
    sock.settimeout(None)


def client_handshake(sock: socket.socket, secret: bytes) -> None:
    sock.settimeout(HANDSHAKE_SECONDS)
    head = _read_exact(sock, len(MAGIC) + NONCE)
    if head[:len(MAGIC)] != MAGIC:
        raise GateRefused("the relay gate address does not speak the gate protocol")
    theirs = head[len(MAGIC):]
    ours = secrets.token_bytes(NONCE)
    sock.sendall(ours + _mac(secret, b"node", theirs, ours))
    proof = _read_exact(sock, DIGEST)
    if not hmac.compare_digest(proof, _mac(secret, b"driver", ours, theirs)):
        raise GateRefused("the relay gate failed the handshake (wrong run secret)")
    sock.settimeout(None)


def pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until both directions end; a half-close is passed on."""
    def one_way(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                chunk = src.recv(CHUNK)
                if not chunk:
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    back = threading.Thread(target=one_way, args=(b, a), name="dgm-gate-pipe", daemon=True)
    back.start()
    one_way(a, b)
    back.join()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class RelayGate:
    """Listens on HOST:PORT (0 = any free port); each authenticated connection reaches SOCKET_PATH."""

    def __init__(self, socket_path: Path, secret: bytes, host: str = "127.0.0.1", port: int = 0,
                 max_streams: int = MAX_STREAMS) -> None:
        self.socket_path = Path(socket_path)
        self.secret = secret
        self.host = host
        self.port = port
        self.max_streams = max_streams
        self.refused = 0           # failed handshakes, for the operator's log
        self._open = 0
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def start(self) -> "RelayGate":
        gate = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                gate._serve(self.request)

        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="dgm-relay-gate", daemon=True)
        self._thread.start()
        return self

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            if self._open >= self.max_streams:
                return  # closed at once: the node's forwarder answers its sandbox with a 503
            self._open += 1
        try:
            try:
                server_handshake(conn, self.secret)
            except (GateRefused, OSError):
                with self._lock:
                    self.refused += 1
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            relay = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                relay.connect(str(self.socket_path))
                pipe(conn, relay)
            except OSError:
                pass
            finally:
                relay.close()
        finally:
            with self._lock:
                self._open -= 1

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "RelayGate":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
