"""The relay's connection layer: who may hold a connection, for how long, and how refusals are answered.

A connection belongs to no token until its headers are read, so the only identity before that is the
peer process: connections are counted per peer group (the container's cgroup; a host process by pid),
every connection has a deadline for its headers and body (a slow client is cut in seconds), and a
refused connection gets a canned 503 without a thread of its own.
"""

from __future__ import annotations

import json
import os
import logging
import socket
import socketserver
import struct
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("dgm.llm.relay")

MAX_CONNECTIONS = 1024      # threads, one per open connection
PEER_CONNECTIONS = 64       # open connections one container (or host process) may hold
HEADER_SECONDS = 5.0        # from connect (or the previous answer) to the end of the request's headers
BODY_BYTES_PER_SECOND = 1 << 20   # slowest body upload tolerated, on top of HEADER_SECONDS
LINGER_SECONDS = 1.0        # a refused socket stays open this long so the client can read the 503
MAX_LINGERING = 256


def peer_group(sock: socket.socket) -> str:
    """Who is on the other end: the peer's cgroup when it is not ours (a container), else its pid."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, _uid, _gid = struct.unpack("3i", creds)
    except OSError:
        return "unknown"
    if pid <= 0:
        return "unknown"  # the peer is in a pid namespace we cannot see
    group = _cgroup(pid)
    if group is None:
        return "unknown"  # gone already: one shared bucket, so vanishing processes gain nothing
    return f"pid:{pid}" if group == _own_cgroup() else f"cgroup:{group}"


def _cgroup(pid: int | str) -> str | None:
    try:
        with open(f"/proc/{pid}/cgroup", "rb") as fh:
            return fh.read(4096).decode("utf-8", "replace").strip()
    except OSError:
        return None


_OWN: list[str | None] = []


def _own_cgroup() -> str | None:
    if not _OWN:
        _OWN.append(_cgroup("self"))
    return _OWN[0]


class Deadlines:
    """One thread that shuts down connections whose deadline passed: a blocked read then returns at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: dict[socket.socket, float] = {}
        self._lingering: list[tuple[float, socket.socket]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dgm-relay-deadlines", daemon=True)
        self._thread.start()

    def set(self, sock: socket.socket, seconds: float | None) -> None:
        with self._lock:
            if seconds is None:
                self._due.pop(sock, None)
            else:
                self._due[sock] = time.monotonic() + seconds

    def linger(self, sock: socket.socket) -> bool:
        """Close `sock` in LINGER_SECONDS; False (caller closes now) when too many already wait."""
        with self._lock:
            if len(self._lingering) >= MAX_LINGERING:
                return False
            self._lingering.append((time.monotonic() + LINGER_SECONDS, sock))
            return True

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with self._lock:
            lingering, self._lingering = self._lingering, []
        for _, sock in lingering:
            _close(sock)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            now = time.monotonic()
            with self._lock:
                late = [s for s, due in self._due.items() if due <= now]
                for sock in late:
                    del self._due[sock]
                done = [s for due, s in self._lingering if due <= now]
                self._lingering = [(due, s) for due, s in self._lingering if due > now]
            for sock in late:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            for sock in done:
                _close(sock)


class UnixHTTPServer(socketserver.ThreadingUnixStreamServer):
    """A thread per connection, at most `max_connections` in all and `peer_connections` per peer group."""

    daemon_threads = True          # a hung call must not block shutdown
    block_on_close = False
    max_connections = MAX_CONNECTIONS
    peer_connections = PEER_CONNECTIONS

    def server_activate(self) -> None:
        self._count_lock = threading.Lock()
        self._open = 0
        self._per_peer: dict[str, int] = {}
        self._groups: dict[int, str] = {}
        self.deadlines = Deadlines()
        super().server_activate()

    def server_close(self) -> None:
        super().server_close()
        if hasattr(self, "deadlines"):
            self.deadlines.stop()

    def process_request(self, request: Any, client_address: Any) -> None:
        group = peer_group(request)
        with self._count_lock:
            busy = self._open >= self.max_connections
            greedy = self._per_peer.get(group, 0) >= self.peer_connections
            if not busy and not greedy:
                self._open += 1
                self._per_peer[group] = self._per_peer.get(group, 0) + 1
                self._groups[id(request)] = group
        if busy or greedy:
            why = "too many open connections" + (" from this sandbox" if greedy else "")
            self._refuse(request, why)
            return
        self.deadlines.set(request, HEADER_SECONDS)
        try:
            super().process_request(request, client_address)
        except BaseException:  # no thread: give the slot back
            self._release(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release(request)

    def _release(self, request: Any) -> None:
        self.deadlines.set(request, None)
        with self._count_lock:
            group = self._groups.pop(id(request), None)
            if group is not None:
                self._open -= 1
                left = self._per_peer.get(group, 1) - 1
                if left > 0:
                    self._per_peer[group] = left
                else:
                    self._per_peer.pop(group, None)

    def _refuse(self, sock: socket.socket, why: str) -> None:
        """A canned 503 written without blocking, then the socket lingers briefly: no thread per refusal."""
        data = json.dumps({"error": {"message": f"relay busy: {why}", "type": "overloaded", "code": 503}}).encode()
        head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n").encode()
        try:
            sock.setblocking(False)
            sock.send(head + data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if not self.deadlines.linger(sock):
            _close(sock)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Never on the operator's terminal: a sandbox decides what goes wrong here.
        log.debug("relay connection failed", exc_info=True)


def body_seconds(length: int) -> float:
    return HEADER_SECONDS + length / BODY_BYTES_PER_SECOND


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:
        pass


def serve_unix(socket_dir: Path, socket_path: Path, handler: type, *, name: str,
               peer_connections: int = PEER_CONNECTIONS,
               max_connections: int = MAX_CONNECTIONS) -> tuple["UnixHTTPServer", threading.Thread]:
    """A UnixHTTPServer on SOCKET_PATH (a stale socket replaced) that the sandbox user (uid 1000) may
    connect to, the handler's token being the guard, served on a daemon thread NAME."""
    socket_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(socket_dir, 0o755)
    if socket_path.exists() or socket_path.is_symlink():
        socket_path.unlink()  # a stale socket from a crashed run
    raise_fd_limit()
    server = UnixHTTPServer(str(socket_path), handler, bind_and_activate=False)
    server.max_connections = max_connections
    server.peer_connections = peer_connections
    server.request_queue_size = 128
    try:
        server.server_bind()
        server.server_activate()
    except BaseException:
        server.server_close()
        raise
    os.chmod(socket_path, 0o666)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name=name, daemon=True)
    thread.start()
    return server, thread


def raise_fd_limit() -> None:
    """Connections are file descriptors: lift the soft limit to the hard one so the caps, not EMFILE, decide."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):
        pass
