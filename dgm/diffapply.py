"""Apply parsed diffs to a directory in Python: no git, no patch, no configuration read.

A tree that came out of a sandbox may hold anything, including files that make it look like
a git repository to a git started inside it. So patches to such trees are applied here:
every path is walked component by component with O_NOFOLLOW, only regular files are read
or written, hunks must match exactly (at an offset, as `git apply` allows, never fuzzily),
and every result is computed before the first byte is written.
"""

from __future__ import annotations

import errno
import os
import stat
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from dgm.diffs import GITLINK_MODE, DiffRefused, FileDiff, Hunk

MAX_FILE_BYTES = 50_000_000
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def apply_diff(root: Path, files: Sequence[FileDiff]) -> list[str]:
    """Apply FILES under ROOT; the paths written or removed. A patch that does not apply is
    refused before anything is written."""
    state: dict[str, tuple[bytes, bool] | None] = {}  # path -> (content, executable), None = removed

    def current(path: str, where: str) -> tuple[bytes, bool]:
        if path in state:
            now = state[path]
            if now is None:
                raise DiffRefused(f"{where}: {path!r} was removed by an earlier block")
            return now
        found = _read(root, path)
        if found is None:
            raise DiffRefused(f"{where}: {path!r} does not exist")
        return found

    for number, block in enumerate(files, 1):
        where = f"block {number} ({block.new_path or block.old_path})"
        if block.binary:
            raise DiffRefused(f"{where}: binary patches are not applied to agent trees")
        if block.is_link or GITLINK_MODE in (block.old_mode, block.new_mode):
            raise DiffRefused(f"{where}: the patch makes a symbolic link or a submodule")
        if block.operation == "create":
            if (block.new_path in state and state[block.new_path] is not None) or (
                    block.new_path not in state and _exists(root, block.new_path)):
                raise DiffRefused(f"{where}: {block.new_path!r} already exists")
            content, executable = b"", False
        else:
            content, executable = current(block.old_path, where)
        content = _apply_hunks(content, block.hunks, where)
        if block.new_mode:
            executable = block.new_mode == "100755"
        if block.operation == "delete":
            if content:
                raise DiffRefused(f"{where}: the deletion does not remove the whole file")
            state[block.old_path] = None
            continue
        if block.operation == "rename":
            state[block.old_path] = None
        state[block.new_path] = (content, executable)
    for path, value in state.items():
        _write(root, path, value)
    return list(state)


# ---- hunks ----------------------------------------------------------------------------------
def _sides(hunk: Hunk) -> tuple[list[bytes], list[bytes], int]:
    """Old and new lines of a hunk (bytes, with their newlines) and its trailing context."""
    old: list[bytes] = []
    new: list[bytes] = []
    last = ""
    for line in hunk.lines:
        tag, body = line[:1], line[1:].encode("utf-8", "surrogateescape")
        if tag == "\\":  # "\ No newline at end of file": the previous line has no newline
            if last in (" ", "-") and old:
                old[-1] = old[-1][:-1]
            if last in (" ", "+") and new:
                new[-1] = new[-1][:-1]
            continue
        if tag in (" ", "-"):
            old.append(body + b"\n")
        if tag in (" ", "+"):
            new.append(body + b"\n")
        last = tag
    tags = [line[:1] for line in hunk.lines if line[:1] != "\\"]
    trailing = next((i for i, t in enumerate(reversed(tags)) if t != " "), len(tags))
    return old, new, trailing


def _apply_hunks(content: bytes, hunks: Sequence[Hunk], where: str) -> bytes:
    lines = content.splitlines(keepends=True)
    shift = 0  # lines added minus removed by the hunks so far
    floor = 0  # a hunk may not match before the end of the previous one
    for number, hunk in enumerate(hunks, 1):
        old, new, trailing = _sides(hunk)
        start = hunk.old_start - 1 if hunk.old_len else hunk.old_start
        expected = max(floor, start + shift)
        at_start = hunk.old_start <= 1  # git: such a hunk must match at the beginning
        at_end = trailing == 0
        pos = _find(lines, old, expected, floor, at_start, at_end)
        if pos is None:
            raise DiffRefused(f"{where}: hunk {number} ({hunk.header()}) does not match the file")
        lines[pos:pos + len(old)] = new
        shift += len(new) - len(old)
        floor = pos + len(new)
    return b"".join(lines)


def _find(lines: list[bytes], old: list[bytes], expected: int, floor: int,
          at_start: bool, at_end: bool) -> int | None:
    """Where OLD matches LINES exactly, nearest EXPECTED first (git's search, without fuzz)."""
    def fits(pos: int) -> bool:
        if pos < floor or pos + len(old) > len(lines):
            return False
        if at_start and pos != 0 or at_end and pos + len(old) != len(lines):
            return False
        return lines[pos:pos + len(old)] == old

    expected = min(max(expected, floor), len(lines))
    for distance in range(0, len(lines) + 1):
        for pos in (expected - distance, expected + distance) if distance else (expected,):
            if fits(pos):
                return pos
    return None


# ---- the file system, without following links -------------------------------------------------
@contextmanager
def _parent(root: Path, path: str, *, create: bool) -> Iterator[tuple[int | None, str]]:
    """A descriptor of PATH's directory (walked without following links) and the last name."""
    *dirs, name = path.split("/")
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in dirs:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    os.close(fd)
                    fd = -1
                    yield None, name
                    return
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise DiffRefused(f"{path!r} passes through {part!r}, which is not a directory") from None
                raise
            os.close(fd)
            fd = nxt
        yield fd, name
    finally:
        if fd >= 0:
            os.close(fd)


def _exists(root: Path, path: str) -> bool:
    with _parent(root, path, create=False) as (fd, name):
        if fd is None:
            return False
        try:
            os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        return True


def _read(root: Path, path: str) -> tuple[bytes, bool] | None:
    """A regular file's bytes and executable bit; None if absent; DiffRefused for anything else."""
    with _parent(root, path, create=False) as (dir_fd, name):
        if dir_fd is None:
            return None
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise DiffRefused(f"{path!r} is a symbolic link; patches change only regular files") from None
            raise
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise DiffRefused(f"{path!r} is not a regular file")
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise DiffRefused(f"{path!r} is larger than {MAX_FILE_BYTES} bytes")
        return data, bool(info.st_mode & 0o111)


def _write(root: Path, path: str, value: tuple[bytes, bool] | None) -> None:
    with _parent(root, path, create=value is not None) as (dir_fd, name):
        if dir_fd is None:
            return
        if value is None:
            os.unlink(name, dir_fd=dir_fd)
            return
        content, executable = value
        tmp = f".dgm-apply-{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o755 if executable else 0o644, dir_fd=dir_fd)
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            os.fchmod(fh.fileno(), 0o755 if executable else 0o644)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
