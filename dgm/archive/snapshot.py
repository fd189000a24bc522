"""Import a directory into git objects: the agent tree of a node.

Trees can come out of sandboxes, so this reads them as data: build residue is skipped,
symlinks are stored as links (never followed) and refused when they point outside the tree,
names the ABI forbids (dgm.archive.names) are refused, and sizes are capped. A refusal is a
TreeRefused whose `reason` is short and fixed, fit for a node's "rejected:<reason>".
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dgm.archive.gitstore import GitStore
from dgm.archive.names import forbidden_name
from dgm.errors import BadInput

# Residue of running the agent's own tests, dropped silently. `.git` is not residue: it is a
# forbidden name, refused with a reason (a sandbox that leaves one is planting a repository).
JUNK_NAMES = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
JUNK_SUFFIXES = (".pyc", ".pyo")
MAX_FILE_BYTES = 50_000_000
MAX_TREE_BYTES = 500_000_000
MAX_FILES = 100_000


def is_junk(name: str) -> bool:
    return name in JUNK_NAMES or name.endswith(JUNK_SUFFIXES)


class TreeRefused(BadInput):
    """An agent tree that may not enter the archive; `reason` names the rule it breaks."""

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


def check_tree(root: Path) -> None:
    """Refuse (TreeRefused) a tree that import_tree would refuse, without writing anything."""
    root = Path(root)
    if not root.is_dir():
        raise TreeRefused(f"tree {root} is not a directory", reason="not a directory",
                          hint="give the path of an agent tree")
    _scan(root, os.path.realpath(root), "", _Budget())


class _Budget:
    def __init__(self) -> None:
        self.bytes = 0
        self.files = 0


def import_tree(store: GitStore, root: Path) -> str:
    """Write the directory `root` as a git tree; return the tree sha.

    The whole tree is checked before the first object is written, so a refused tree
    leaves the repository untouched.
    """
    root = Path(root)
    if not root.is_dir():
        raise TreeRefused(f"tree {root} is not a directory", reason="not a directory",
                          hint="give the path of an agent tree")
    real_root = os.path.realpath(root)
    scanned = _scan(root, real_root, "", _Budget())
    return _write(store, scanned, top=True)


def _check_link(path: Path, rel: str, real_root: str) -> str:
    target = os.readlink(path)
    lexical = os.path.normpath(os.path.join(os.path.dirname(rel), target))
    real = os.path.realpath(path)
    inside = real == real_root or real.startswith(real_root + os.sep)
    if os.path.isabs(target) or lexical == ".." or lexical.startswith("../") or not inside:
        raise TreeRefused(
            f"symlink {rel!r} -> {target!r} points outside the tree {real_root}",
            reason="link out of tree", hint="replace it with a file or a link inside the tree",
        )
    return target


# A scanned entry: (git mode, name, payload) where payload is a link target (str), a file
# path (Path) or, for a directory, the list of its scanned entries.
Scanned = list[tuple[str, bytes, object]]


def _scan(directory: Path, real_root: str, rel: str, budget: _Budget) -> Scanned:
    try:
        listing = list(os.scandir(directory))
    except OSError as exc:
        raise TreeRefused(f"cannot list {rel or '.'!r} in the tree: {exc.strerror}",
                          reason="unreadable tree", hint="make every directory of the agent tree readable") from None
    entries: Scanned = []
    for entry in listing:
        child_rel = f"{rel}{entry.name}"
        forbidden = forbidden_name(entry.name)
        if forbidden:
            raise TreeRefused(
                f"the tree holds {child_rel!r}: an agent tree may not hold a name read as {forbidden}",
                reason=f"forbidden name in tree: {forbidden}",
                hint="see agents_archive/README.md (names an agent tree may not hold); "
                     "copy the tree without it")
        if is_junk(entry.name):
            continue
        st = entry.stat(follow_symlinks=False)
        name = os.fsencode(entry.name)
        if stat.S_ISLNK(st.st_mode):
            entries.append(("120000", name, _check_link(Path(entry.path), child_rel, real_root)))
        elif stat.S_ISDIR(st.st_mode):
            entries.append(("40000", name, _scan(Path(entry.path), real_root, child_rel + "/", budget)))
        elif stat.S_ISREG(st.st_mode):
            budget.files += 1
            budget.bytes += st.st_size
            if st.st_size > MAX_FILE_BYTES or budget.bytes > MAX_TREE_BYTES or budget.files > MAX_FILES:
                raise TreeRefused(
                    f"tree is too large at {child_rel!r} (caps: {MAX_FILE_BYTES} bytes a file, "
                    f"{MAX_TREE_BYTES} in all, {MAX_FILES} files)",
                    reason="tree too large", hint="remove build outputs or data from the agent tree",
                )
            if not os.access(entry.path, os.R_OK):
                raise TreeRefused(f"cannot read {child_rel!r} in the tree: permission denied",
                                  reason="unreadable tree", hint="make every file of the agent tree readable")
            mode = "100755" if st.st_mode & 0o111 else "100644"
            entries.append((mode, name, Path(entry.path)))
        else:
            raise TreeRefused(
                f"{child_rel!r} in the tree is not a file, directory or symlink",
                reason="special file in tree", hint="remove sockets, fifos and device files from the agent tree",
            )
    return entries


def _write(store: GitStore, scanned: Scanned, top: bool = False) -> str | None:
    entries: list[tuple[str, bytes, str]] = []
    for mode, name, payload in scanned:
        if mode == "120000":
            entries.append((mode, name, store.write_object(b"blob", os.fsencode(payload))))
        elif mode == "40000":
            sub = _write(store, payload)
            if sub is not None:
                entries.append((mode, name, sub))
        else:
            entries.append((mode, name, store.write_object(b"blob", _read(payload))))
    if not entries and not top:
        return None  # git has no empty directories
    return store.write_tree_entries(entries)


def _read(path: Path) -> bytes:
    try:
        # O_NOFOLLOW: a file swapped for a link after the scan is refused, not followed.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise TreeRefused(f"cannot read {str(path)!r}: {exc.strerror}", reason="unreadable tree",
                          hint="make every file of the agent tree readable") from None
    if len(data) > MAX_FILE_BYTES:
        raise TreeRefused(f"{str(path)!r} grew past {MAX_FILE_BYTES} bytes", reason="tree too large",
                          hint="remove build outputs or data from the agent tree")
    return data
