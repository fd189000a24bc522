"""Import a directory into git objects: the agent tree of a node.

Trees can come out of sandboxes, so this reads them as data: junk is skipped, symlinks are
stored as links (never followed) and refused when they point outside the tree, and sizes
are capped.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from dgm.archive.gitstore import GitStore
from dgm.errors import BadInput

JUNK_NAMES = {".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
JUNK_SUFFIXES = (".pyc", ".pyo")
MAX_FILE_BYTES = 50_000_000
MAX_TREE_BYTES = 500_000_000
MAX_FILES = 100_000


def is_junk(name: str) -> bool:
    return name in JUNK_NAMES or name.endswith(JUNK_SUFFIXES)


class _Budget:
    def __init__(self) -> None:
        self.bytes = 0
        self.files = 0


def import_tree(store: GitStore, root: Path) -> str:
    """Write the directory `root` as a git tree; return the tree sha."""
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"tree {root} is not a directory", hint="give the path of an agent tree")
    real_root = os.path.realpath(root)
    return _import_dir(store, root, real_root, "", _Budget())


def _check_link(path: Path, rel: str, real_root: str) -> str:
    target = os.readlink(path)
    lexical = os.path.normpath(os.path.join(os.path.dirname(rel), target))
    real = os.path.realpath(path)
    inside = real == real_root or real.startswith(real_root + os.sep)
    if os.path.isabs(target) or lexical == ".." or lexical.startswith("../") or not inside:
        raise BadInput(
            f"symlink {rel} -> {target} points outside the tree {real_root}",
            hint="replace it with a file or a link inside the tree",
        )
    return target


def _import_dir(store: GitStore, directory: Path, real_root: str, rel: str, budget: _Budget) -> str:
    entries: list[tuple[str, bytes, str]] = []
    with os.scandir(directory) as it:
        for entry in it:
            if is_junk(entry.name):
                continue
            child_rel = f"{rel}{entry.name}"
            st = entry.stat(follow_symlinks=False)
            name = os.fsencode(entry.name)
            if stat.S_ISLNK(st.st_mode):
                target = _check_link(Path(entry.path), child_rel, real_root)
                entries.append(("120000", name, store.write_object(b"blob", os.fsencode(target))))
            elif stat.S_ISDIR(st.st_mode):
                sub = _import_dir(store, Path(entry.path), real_root, child_rel + "/", budget)
                if sub is not None:
                    entries.append(("40000", name, sub))
            elif stat.S_ISREG(st.st_mode):
                budget.files += 1
                budget.bytes += st.st_size
                if st.st_size > MAX_FILE_BYTES or budget.bytes > MAX_TREE_BYTES or budget.files > MAX_FILES:
                    raise BadInput(
                        f"tree is too large at {child_rel} (caps: {MAX_FILE_BYTES} bytes a file, "
                        f"{MAX_TREE_BYTES} in all, {MAX_FILES} files)",
                        hint="remove build outputs or data from the agent tree",
                    )
                with open(entry.path, "rb") as fh:
                    data = fh.read(MAX_FILE_BYTES + 1)
                mode = "100755" if st.st_mode & 0o111 else "100644"
                entries.append((mode, name, store.write_object(b"blob", data)))
            else:
                raise BadInput(
                    f"{child_rel} in the tree is not a file, directory or symlink",
                    hint="remove sockets, fifos and device files from the agent tree",
                )
    if not entries and rel:
        return None  # git has no empty directories
    return store.write_tree_entries(entries)
