"""Files crossing the sandbox boundary as tar streams: outgoing trees, and incoming data
checked member by member (regular files and directories only, no links, capped)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path, PurePosixPath

from dgm.errors import AgentFailure


def tar_file(name: str, data: bytes, mode: int) -> bytes:
    """A tar archive holding one regular file NAME."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tar_tree(host_dir: Path) -> bytes:
    """A tar archive of HOST_DIR's contents (links stored as links, never followed)."""
    host_dir = Path(host_dir)
    if not host_dir.is_dir():
        raise FileNotFoundError(f"{host_dir} is not a directory")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for entry in sorted(host_dir.iterdir()):
            tar.add(entry, arcname=entry.name, recursive=True, filter=_anonymous)
    return buf.getvalue()


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 1000
    info.uname = info.gname = "agent"
    return info


def _safe_relpath(name: str) -> PurePosixPath | None:
    """NAME as a relative path inside the destination, or None if it would leave it."""
    if name.startswith("/") or "\\" in name:
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        return None
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def extract_untrusted(stream: io.BufferedIOBase, host_dir: Path, max_bytes: int) -> list[str]:
    """Extract a tar stream from a sandbox into HOST_DIR; returns the names refused."""
    host_dir = Path(host_dir)
    host_dir.mkdir(parents=True, exist_ok=True)
    root = host_dir.resolve()
    refused: list[str] = []
    total = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            rel = _safe_relpath(member.name)
            if rel is None or not (member.isreg() or member.isdir()):
                refused.append(member.name)
                continue
            if rel == PurePosixPath("."):
                continue
            target = root.joinpath(*rel.parts)
            _check_no_links(root, target)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            total += member.size
            if total > max_bytes:
                raise AgentFailure(
                    f"sandbox tree exceeds {max_bytes} bytes", hint="raise max_bytes or clean the tree"
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            _check_no_links(root, target.parent)
            src = tar.extractfile(member)
            assert src is not None
            mode = 0o755 if member.mode & 0o111 else 0o644
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
            fd = os.open(target, flags, mode)
            with os.fdopen(fd, "wb") as out:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
    return refused


def _check_no_links(root: Path, path: Path) -> None:
    # We only ever create files and directories, but HOST_DIR may hold older content.
    current = path
    while current != root and current != current.parent:
        if current.is_symlink():
            raise AgentFailure(f"refusing to write through the link {current}")
        current = current.parent
