"""fsck: check that the SQLite index and the git repository of an archive agree."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dgm.archive import index
from dgm.archive.gitstore import REF_PREFIX, GitStore
from dgm.archive.node import score_of
from dgm.archive.store import GIT_DIR, INDEX_FILE, Archive
from dgm.errors import ArchiveError, NotAnArchive
from dgm.hostgit import run_git


@dataclass
class Problem:
    kind: str            # e.g. "missing-commit", "missing-ref", "missing-parent", "index-corrupt"
    node: str | None
    message: str


@dataclass
class FsckReport:
    path: str
    nodes: int = 0
    refs: int = 0
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)   # what recovery fixed on the way

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, node: str | None, message: str) -> None:
        self.problems.append(Problem(kind, node, message))

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def fsck(path: Path, *, git_objects: bool = True) -> FsckReport:
    """Check an archive; recover an interrupted add first. Never raises for a broken archive."""
    path = Path(path)
    if not path.is_dir():
        raise NotAnArchive(f"{path} is not a directory", hint="give an archive directory")
    report = FsckReport(path=str(path))
    if not (path / GIT_DIR).is_dir() and not (path / INDEX_FILE).is_file():
        raise NotAnArchive(f"{path} is not a dgm archive (no {INDEX_FILE} and {GIT_DIR})",
                           hint="create one with `dgm archive init DIR`")
    if not (path / GIT_DIR).is_dir():
        report.add("missing-git", None, f"{GIT_DIR} is missing")
        return report
    if not (path / INDEX_FILE).is_file():
        report.add("missing-index", None, f"{INDEX_FILE} is missing")
        return report
    git = GitStore(path / GIT_DIR)
    try:
        conn = index.connect(path / INDEX_FILE)
        verdict = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if verdict != ["ok"]:
            report.add("index-corrupt", None,
                       f"{INDEX_FILE} fails SQLite's integrity check: {'; '.join(verdict[:5])}")
            return report
        rows = conn.execute(
            "SELECT id, commit_sha, parent_id, generation, status, diagnosis, results, "
            "stage_scores, meta, score FROM nodes ORDER BY id"
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        report.add("index-corrupt", None, f"{INDEX_FILE} is unreadable: {exc}")
        return report
    archive = Archive(path, git, conn)
    report.repaired = [f"removed ref {REF_PREFIX}{i} left by an interrupted add"
                       for i in archive.recover()]
    try:
        _check(report, git, rows)
        if git_objects:
            _check_objects(report, git)
    except ArchiveError as exc:  # git itself cannot read the repository
        report.add("git-unreadable", None, str(exc))
    finally:
        conn.close()
    return report


def _check(report: FsckReport, git: GitStore, rows: list[tuple]) -> None:
    report.nodes = len(rows)
    by_id = {r[0]: r for r in rows}
    refs = git.refs()
    report.refs = len(refs)
    commits = sorted({r[1] for r in rows})
    types = git.object_types(commits)
    parents = git.commit_parents([c for c in commits if types.get(c) == "commit"])
    if 0 not in by_id:
        report.add("no-root", "0", "the index has no root node 0")
    for nid, commit, parent_id, generation, status, *json_cols, score in rows:
        node = str(nid)
        kind = types.get(commit, "missing")
        if kind == "missing":
            report.add("missing-commit", node, f"node {node}: commit {commit} is missing from {GIT_DIR}")
        elif kind != "commit":
            report.add("not-a-commit", node, f"node {node}: {commit} is a {kind}, not a commit")
        ref = refs.get(node)
        if ref is None:
            report.add("missing-ref", node, f"node {node}: ref {REF_PREFIX}{node} is missing")
        elif ref != commit:
            report.add("ref-mismatch", node,
                       f"node {node}: ref {REF_PREFIX}{node} points to {ref}, the index says {commit}")
        _check_parent(report, node, commit, parent_id, generation, by_id, parents)
        if not _valid_status(status):
            report.add("bad-status", node, f"node {node}: status {status!r} is not "
                       "admitted, pending or rejected:<reason>")
        decoded = []
        for name, text in zip(("diagnosis", "results", "stage_scores", "meta"), json_cols):
            try:
                decoded.append(json.loads(text) if text else None)
            except ValueError:
                report.add("bad-json", node, f"node {node}: column {name} is not valid JSON")
                decoded.append(None)
        results = decoded[1]
        if isinstance(results, dict) and results:
            expected = score_of(results)
            if score is None or abs(score - expected) > 1e-9:
                report.add("score-mismatch", node,
                           f"node {node}: score {score} but its results give {expected}")
    for name, sha in sorted(refs.items()):
        if not name.isdigit():
            report.add("stray-ref", None, f"ref {REF_PREFIX}{name} is not a node id")
        elif int(name) not in by_id:
            report.add("dangling-ref", name,
                       f"ref {REF_PREFIX}{name} -> {sha} has no row in {INDEX_FILE}")


def _check_parent(report: FsckReport, node: str, commit: str, parent_id: int | None,
                  generation: int, by_id: dict, parents: dict[str, list[str]]) -> None:
    git_parents = parents.get(commit)
    if parent_id is None:
        if node != "0":
            report.add("missing-parent", node, f"node {node}: has no parent but is not the root")
        elif generation != 0:
            report.add("bad-generation", node, f"node 0: generation {generation}, expected 0")
        if git_parents:
            report.add("git-parent-mismatch", node,
                       f"node {node}: root commit {commit} has git parent(s) {git_parents}")
        return
    parent = by_id.get(parent_id)
    if parent is None:
        report.add("missing-parent", node, f"node {node}: parent node {parent_id} is not in the index")
        return
    if generation != parent[3] + 1:
        report.add("bad-generation", node,
                   f"node {node}: generation {generation}, expected {parent[3] + 1} (parent {parent_id})")
    if git_parents is not None and git_parents != [parent[1]]:
        report.add("git-parent-mismatch", node,
                   f"node {node}: commit {commit} has git parent(s) {git_parents or 'none'}, "
                   f"expected node {parent_id}'s commit {parent[1]}")


def _valid_status(status: str) -> bool:
    return status in ("admitted", "pending") or (
        status.startswith("rejected:") and bool(status[len("rejected:"):].strip())
    )


def _check_objects(report: FsckReport, git: GitStore) -> None:
    for line in _git_fsck_errors(git):
        report.add("git-object", None, f"git fsck: {line}")


def _git_fsck_errors(git: GitStore) -> list[str]:
    proc = run_git(git.path, "fsck", "--no-dangling", "--no-progress", "--no-reflogs")
    lines = (proc.stdout + proc.stderr).decode(errors="replace").splitlines()
    # "HEAD points to an unborn branch" is normal for a bare archive repository.
    return [l for l in lines if l.strip() and "unborn branch" not in l]


def format_report(report: FsckReport) -> str:
    head = f"archive {report.path}: {report.nodes} nodes, {report.refs} refs"
    lines = [f"repaired: {r}" for r in report.repaired]
    if report.ok:
        lines.append(f"{head}: OK")
    else:
        lines.append(f"{head}: {len(report.problems)} problem(s)")
        lines.extend(f"  [{p.kind}] {p.message}" for p in report.problems)
    return "\n".join(lines)

