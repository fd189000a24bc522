"""Turn a release archive into a task's "before" state by reverse-applying its gold and test patches."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path

from dgm.errors import BenchError
from dgm.hostgit import apply_in

# Archives are data from the index; cap what one may unpack to.
MAX_UNPACKED_BYTES = 1_500_000_000


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack an sdist into `dest` (must not exist) without its single top-level folder."""
    if dest.exists():
        raise BenchError(f"{dest} already exists; refusing to unpack over it")
    staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=dest.parent))
    try:
        total = 0
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                for info in zf.infolist():
                    total += info.file_size
                    if total > MAX_UNPACKED_BYTES:
                        raise BenchError(f"{archive.name} unpacks to more than {MAX_UNPACKED_BYTES} bytes")
                zf.extractall(staging)  # zipfile strips absolute and parent components
        else:
            with tarfile.open(archive) as tf:
                members = []
                for m in tf.getmembers():
                    total += max(m.size, 0)
                    if total > MAX_UNPACKED_BYTES:
                        raise BenchError(f"{archive.name} unpacks to more than {MAX_UNPACKED_BYTES} bytes")
                    members.append(m)
                # "data" refuses links out of the tree, absolute paths and device files,
                # and drops the archive's owners (git would call the tree "dubious").
                try:
                    tf.extractall(staging, members=members, filter="data")
                except tarfile.FilterError as exc:
                    raise BenchError(f"{archive.name}: unsafe member refused ({exc})") from exc
        entries = list(staging.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
        shutil.move(str(root), str(dest))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _git_apply(tree: Path, patch: str, *args: str) -> subprocess.CompletedProcess:
    # A release archive is data from the index: git runs with the engine's empty repository and
    # every config source pinned, so nothing in the unpacked tree is read as git's own.
    return apply_in(tree, patch, *args)


def reverses_cleanly(tree: Path, patch: str) -> tuple[bool, str]:
    """Whether `patch` applies in reverse to `tree`, and git's message when it does not."""
    proc = _git_apply(tree, patch, "-R", "--check")
    return proc.returncode == 0, (proc.stderr or proc.stdout).strip()


def reverse_patches(tree: Path, gold_patch: str, test_patch: str, *, context: int | None = None) -> None:
    """Reverse the test patch, then the gold patch, in place; BenchError naming the one that failed.
    `context` lowers the context lines git insists on (for releases whose context drifted)."""
    extra = ["-R"] + ([f"-C{context}"] if context is not None else [])
    for label, patch in (("test_patch", test_patch), ("patch", gold_patch)):
        if not patch.strip():
            continue
        proc = _git_apply(tree, patch, *extra)
        if proc.returncode != 0:
            first = (proc.stderr or proc.stdout).strip().splitlines()[:1]
            raise BenchError(f"the {label} does not reverse-apply to the release: {' '.join(first)}")


def check_both(tree: Path, gold_patch: str, test_patch: str) -> str | None:
    """None when both patches reverse-apply to `tree`, else a short reason."""
    gold_ok, gold_msg = reverses_cleanly(tree, gold_patch)
    test_ok, test_msg = reverses_cleanly(tree, test_patch)
    if gold_ok and test_ok:
        return None
    if not gold_ok and not test_ok:
        return "neither patch reverse-applies"
    which, msg = ("patch", gold_msg) if not gold_ok else ("test_patch", test_msg)
    return f"the {which} does not reverse-apply ({msg.splitlines()[0] if msg else 'git apply failed'})"
