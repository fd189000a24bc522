"""docker exec over a hijacked HTTP connection we read ourselves, so a deadline can cut it.

The SDK's exec socket wraps a buffered HTTP response that may swallow the first output
bytes and has no deadline; here we speak the two lines of HTTP directly to the engine.
"""

from __future__ import annotations

import json
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from dgm.errors import SandboxError

STDOUT, STDERR = 1, 2


@dataclass
class Capture:
    """Output kept up to a byte cap (the rest is counted and dropped)."""

    cap: int
    streams: tuple[int, ...] = (STDOUT, STDERR)
    data: bytearray = field(default_factory=bytearray)
    total: int = 0
    stderr_tail: bytearray = field(default_factory=bytearray)

    def feed(self, stream: int, chunk: bytes) -> None:
        if stream not in self.streams:
            # What we do not keep still tells why a command failed; keep a little.
            self.stderr_tail += chunk
            del self.stderr_tail[:-4096]
            return
        self.total += len(chunk)
        room = self.cap - len(self.data)
        if room > 0:
            self.data += chunk[:room]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.data)


class ExecStream:
    """One started exec: demultiplexes the engine's framed stdout/stderr stream."""

    def __init__(self, api: Any, exec_id: str, socket_path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(socket_path)
        body = json.dumps({"Detach": False, "Tty": False}).encode()
        head = (
            f"POST /v{api._version}/exec/{exec_id}/start HTTP/1.1\r\nHost: docker\r\n"
            "Content-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.sock.sendall(head + body)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise SandboxError("the engine closed the exec connection")
            buf += chunk
        header, self.pending = buf.split(b"\r\n\r\n", 1)
        status = header.split(b" ", 2)[1]
        if status not in (b"101", b"200"):
            self.sock.close()
            raise SandboxError(f"exec start failed: {header.decode(errors='replace')[:300]}")
        self.eof = False

    def send_stdin(self, data: bytes, deadline: float) -> None:
        """Write DATA to the process's stdin, then close it (half-close the connection)."""
        self.sock.settimeout(max(1.0, deadline - time.monotonic()))
        try:
            self.sock.sendall(data)
            self.sock.shutdown(socket.SHUT_WR)
        except (socket.timeout, BrokenPipeError, ConnectionResetError) as exc:
            raise SandboxError(f"sending {len(data)} bytes into the sandbox failed: {exc}") from exc
        finally:
            self.sock.settimeout(None)

    def pump(self, capture: Capture, deadline: float) -> bool:
        """Read frames into CAPTURE until EOF (True) or DEADLINE (False)."""
        while True:
            self._parse(capture)
            if self.eof:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self.sock], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                self.eof = True
                self._parse(capture)
                return True
            self.pending += chunk

    def _parse(self, capture: Capture) -> None:
        self.pending = parse_frames(self.pending, capture.feed)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def parse_frames(buf: bytes, feed: Callable[[int, bytes], None]) -> bytes:
    """Hand each complete frame of BUF (1 byte stream, 3 zero bytes, 4 bytes length, payload)
    to FEED; return the incomplete rest."""
    pos = 0
    while len(buf) - pos >= 8:
        stream = buf[pos]
        size = int.from_bytes(buf[pos + 4 : pos + 8], "big")
        if len(buf) - pos - 8 < size:
            break
        feed(stream, buf[pos + 8 : pos + 8 + size])
        pos += 8 + size
    return buf[pos:]
