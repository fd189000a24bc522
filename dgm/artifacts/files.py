"""Reading an artifact file on the host: a regular file or nothing — no link followed, no FIFO
waited on, no device read — and never more than its cap."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from dgm.artifacts.bounded import ArtifactInvalid

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))


def kind_of(mode: int) -> str:
    """What a file of this st_mode is, in words."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def read_regular(path: Path, max_bytes: int, *, head: bool = False) -> bytes:
    """The bytes of PATH if it is a regular file of at most MAX_BYTES (HEAD: its first MAX_BYTES).

    FileNotFoundError when it does not exist; ArtifactInvalid when it is a link, a FIFO, a device,
    a directory, or larger than the cap. O_NONBLOCK: opening a FIFO must not wait for a writer."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise FileNotFoundError(str(path)) from None
        if exc.errno == errno.ELOOP:
            raise ArtifactInvalid("is a symbolic link, not a regular file") from None
        if exc.errno == errno.EISDIR:
            raise ArtifactInvalid("is a directory, not a regular file") from None
        raise ArtifactInvalid(f"cannot be opened ({exc.strerror})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise ArtifactInvalid(f"is {kind_of(mode)}, not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > max_bytes and head:
        return b"".join(chunks)[:max_bytes]
    if size > max_bytes:
        raise ArtifactInvalid(f"is larger than {max_bytes} bytes")
    return b"".join(chunks)
