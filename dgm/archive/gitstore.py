"""The bare git repository of an archive: in-process object writes, node refs, reads.

Objects are written as loose objects by this process (hash, deflate, rename) rather than
through `git` subprocesses: a node then costs a few milliseconds instead of dozens of
process spawns. Reads and diffs go through git itself, always by dgm.hostgit (the engine's
repository, every other config source pinned).
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
import zlib
from pathlib import Path

from dgm.archive.names import forbidden_in_path
from dgm.errors import ArchiveError, BadInput
from dgm.hostgit import init_bare, run_git

REF_PREFIX = "refs/dgm/nodes/"
IDENTITY = b"dgm <dgm@localhost>"


class GitStore:
    """One bare repository: objects, refs/dgm/nodes/<id>, and reading trees back."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.objects = self.path / "objects"
        self.refs_dir = self.path / "refs" / "dgm" / "nodes"
        self.tmp_dir = self.path / "dgm-tmp"

    # ---- creation -------------------------------------------------------------------
    @classmethod
    def init(cls, path: Path) -> "GitStore":
        """Create (or reuse) a bare repository at `path` with the engine's config (gc off: refs
        keep every node alive, and a run should not pause to repack mid-iteration)."""
        init_bare(path)
        store = cls(path)
        store.refs_dir.mkdir(parents=True, exist_ok=True)
        store.tmp_dir.mkdir(exist_ok=True)
        return store

    def exists(self) -> bool:
        return (self.path / "HEAD").is_file() and self.objects.is_dir()

    # ---- git subprocess -------------------------------------------------------------
    def git(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        """Run git against this repository (every config source pinned) and return stdout."""
        proc = run_git(self.path, *args, input=input)
        if check and proc.returncode != 0:
            raise ArchiveError(
                f"git {' '.join(args[:2])} failed in {self.path}: "
                f"{proc.stderr.decode(errors='replace').strip()}"
            )
        return proc.stdout

    # ---- objects ----------------------------------------------------------------------
    def write_object(self, kind: bytes, data: bytes) -> str:
        """Store one object (loose, atomically renamed into place); return its sha."""
        header = b"%s %d\0" % (kind, len(data))
        digest = hashlib.sha1(header)
        digest.update(data)
        sha = digest.hexdigest()
        target = self.objects / sha[:2] / sha[2:]
        if target.exists():
            return sha
        target.parent.mkdir(exist_ok=True)
        tmp = target.parent / f"tmp_obj_{uuid.uuid4().hex}"
        with open(tmp, "wb") as fh:
            fh.write(zlib.compress(header + data, 1))
        os.replace(tmp, target)
        return sha

    def write_tree_entries(self, entries: list[tuple[str, bytes, str]]) -> str:
        """Write a tree from (mode, name, sha) entries, sorted as git requires."""
        # git orders a directory as if its name ended in "/".
        entries = sorted(entries, key=lambda e: e[1] + (b"/" if e[0] == "40000" else b""))
        body = b"".join(
            mode.encode() + b" " + name + b"\0" + bytes.fromhex(sha) for mode, name, sha in entries
        )
        return self.write_object(b"tree", body)

    def write_commit(self, tree: str, parent: str | None, message: str) -> str:
        """Write a commit object whose tree is `tree` and (optional) git parent is `parent`."""
        stamp = b"%d +0000" % int(time.time())
        lines = [b"tree " + tree.encode()]
        if parent:
            lines.append(b"parent " + parent.encode())
        lines.append(b"author " + IDENTITY + b" " + stamp)
        lines.append(b"committer " + IDENTITY + b" " + stamp)
        body = b"\n".join(lines) + b"\n\n" + message.encode() + b"\n"
        return self.write_object(b"commit", body)

    # ---- refs ---------------------------------------------------------------------------
    def ref_path(self, node_id: str) -> Path:
        return self.refs_dir / node_id

    def write_ref(self, node_id: str, sha: str) -> None:
        """Point refs/dgm/nodes/<id> at `sha` (atomic rename; temp file outside refs/)."""
        self.tmp_dir.mkdir(exist_ok=True)
        tmp = self.tmp_dir / f"ref-{uuid.uuid4().hex}"
        tmp.write_bytes(sha.encode() + b"\n")
        os.replace(tmp, self.ref_path(node_id))

    def delete_ref(self, node_id: str) -> None:
        """Remove a node's ref, loose or packed."""
        self.git("update-ref", "-d", REF_PREFIX + node_id, check=False)
        self.ref_path(node_id).unlink(missing_ok=True)

    def loose_ref_ids(self) -> list[str]:
        """Ids of loose node refs (where an interrupted add can leave one)."""
        try:
            return os.listdir(self.refs_dir)
        except FileNotFoundError:
            return []

    def refs(self) -> dict[str, str]:
        """Every node ref, loose or packed: id -> sha."""
        out = self.git("for-each-ref", "--format=%(refname) %(objectname)", REF_PREFIX)
        refs: dict[str, str] = {}
        for line in out.decode().splitlines():
            name, sha = line.rsplit(" ", 1)
            refs[name[len(REF_PREFIX) :]] = sha
        return refs

    def clean_tmp(self) -> None:
        """Drop temp files an interrupted write left behind."""
        if self.tmp_dir.is_dir():
            for p in self.tmp_dir.iterdir():
                p.unlink(missing_ok=True)

    # ---- reads ------------------------------------------------------------------------
    def object_types(self, shas: list[str]) -> dict[str, str]:
        """sha -> object type ("commit", "tree", ..., or "missing"), in one git process."""
        if not shas:
            return {}
        out = self.git(
            "cat-file", "--batch-check=%(objectname) %(objecttype)",
            input="".join(s + "\n" for s in shas).encode(),
        )
        types: dict[str, str] = {}
        for line in out.decode().splitlines():
            parts = line.split()
            types[parts[0]] = parts[1] if len(parts) > 1 else "missing"
        return types

    def commit_parents(self, shas: list[str]) -> dict[str, list[str]]:
        """sha -> its git parents, for commits that exist (one git process)."""
        if not shas:
            return {}
        out = self.git(
            "rev-list", "--no-walk=unsorted", "--parents", "--stdin",
            input="".join(s + "\n" for s in shas).encode(), check=False,
        )
        parents: dict[str, list[str]] = {}
        for line in out.decode().splitlines():
            parts = line.split()
            if parts:
                parents[parts[0]] = parts[1:]
        return parents

    def tree_of(self, commit: str) -> str:
        return self.git("rev-parse", f"{commit}^{{tree}}").decode().strip()

    def diff(self, a: str, b: str) -> str:
        """Unified diff between two commits' trees (binary files named, not dumped)."""
        return self.git("diff", "--no-color", "--no-ext-diff", "--no-textconv", a, b).decode(errors="replace")

    def read_blobs(self, shas: list[str]) -> dict[str, bytes]:
        """sha -> content of each blob, in one `git cat-file --batch`."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        out = self.git("cat-file", "--batch", input="".join(s + "\n" for s in wanted).encode())
        blobs: dict[str, bytes] = {}
        pos = 0
        for sha in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            if len(header) != 3 or header[1] != b"blob":
                raise ArchiveError(f"object {sha} in {self.path} is not a readable blob",
                                   hint="run `dgm archive fsck`")
            size = int(header[2])
            blobs[sha] = out[end + 1:end + 1 + size]
            pos = end + 1 + size + 1
        return blobs

    def checkout(self, commit: str, dest: Path) -> Path:
        """Write the tree of `commit` into the empty or missing directory `dest`.

        Every path is checked again as it leaves the archive: a tree stored before a name was
        forbidden is refused rather than written where a host tool could read it.
        """
        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise BadInput(f"checkout destination {dest} is not an empty directory",
                           hint="give a new or empty directory")
        entries: list[tuple[str, str, str]] = []
        for record in self.git("ls-tree", "-r", "-z", commit).split(b"\0"):
            if not record:
                continue
            meta, raw_path = record.split(b"\t", 1)
            mode, kind, sha = meta.decode().split(" ")
            path = os.fsdecode(raw_path)
            parts = path.split("/")
            forbidden = forbidden_in_path(path)
            if kind != "blob" or forbidden or any(p in ("", ".", "..") for p in parts):
                raise ArchiveError(
                    f"commit {commit[:12]} holds {path!r} ({kind} {mode}), which no agent tree may hold"
                    + (f" (the name {forbidden})" if forbidden else ""),
                    hint="it predates the rule in agents_archive/README.md; do not use this node")
            entries.append((mode, sha, path))
        blobs = self.read_blobs([sha for _, sha, _ in entries])
        dest.mkdir(parents=True, exist_ok=True)
        for mode, sha, path in entries:
            target = dest.joinpath(*path.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            data = blobs[sha]
            if mode == "120000":
                os.symlink(os.fsdecode(data), target)
                continue
            with open(target, "xb") as fh:
                fh.write(data)
            os.chmod(target, 0o755 if mode == "100755" else 0o644)
        return dest
