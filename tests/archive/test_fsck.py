"""fsck finds deliberately broken archives and says exactly what is wrong."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from dgm.archive import Archive
from dgm.archive.fsck import fsck, format_report
from dgm.cli import main
from dgm.errors import NotAnArchive


@pytest.fixture
def grown(archive: Archive, make_tree) -> Archive:
    a = archive.add_node("0", make_tree(1), status="admitted")
    archive.add_node(a.id, make_tree(2), status="admitted")
    archive.add_node("0", make_tree(3), status="rejected:no patch")
    return archive


def _kinds(report) -> list[tuple[str, str | None]]:
    return [(p.kind, p.node) for p in report.problems]


def _raw(run: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(run / "archive.sqlite", isolation_level=None)
    conn.execute("PRAGMA foreign_keys=OFF")
    return conn


def test_clean_archive_is_ok(grown: Archive, capsys) -> None:
    report = fsck(grown.path)
    assert report.ok and report.nodes == 4 and report.refs == 4
    assert main(["archive", "fsck", str(grown.path)]) == 0
    assert "4 nodes, 4 refs: OK" in capsys.readouterr().out


def test_missing_commit_object(grown: Archive, capsys) -> None:
    commit = grown.get("2").commit
    (grown.path / "archive.git" / "objects" / commit[:2] / commit[2:]).unlink()
    report = fsck(grown.path)
    assert ("missing-commit", "2") in _kinds(report)
    assert f"node 2: commit {commit} is missing from archive.git" in format_report(report)
    assert main(["archive", "fsck", str(grown.path)]) == 1
    assert "missing from archive.git" in capsys.readouterr().out


def test_missing_ref(grown: Archive) -> None:
    (grown.path / "archive.git" / "refs" / "dgm" / "nodes" / "1").unlink()
    report = fsck(grown.path, git_objects=False)
    assert _kinds(report) == [("missing-ref", "1")]
    assert report.problems[0].message == "node 1: ref refs/dgm/nodes/1 is missing"


def test_ref_pointing_elsewhere(grown: Archive) -> None:
    grown.git.write_ref("3", grown.get("1").commit)
    report = fsck(grown.path, git_objects=False)
    assert _kinds(report) == [("ref-mismatch", "3")]


def test_missing_parent_row(grown: Archive) -> None:
    conn = _raw(grown.path)
    conn.execute("DELETE FROM nodes WHERE id=1")
    conn.close()
    report = fsck(grown.path, git_objects=False)
    kinds = _kinds(report)
    assert ("missing-parent", "2") in kinds
    assert ("dangling-ref", "1") in kinds  # node 1's ref now has no row
    assert "node 2: parent node 1 is not in the index" in format_report(report)


def test_wrong_generation_and_git_parent(grown: Archive) -> None:
    conn = _raw(grown.path)
    conn.execute("UPDATE nodes SET generation=5, parent_id=3 WHERE id=2")
    conn.close()
    kinds = _kinds(fsck(grown.path, git_objects=False))
    assert ("bad-generation", "2") in kinds and ("git-parent-mismatch", "2") in kinds


def test_bad_status_and_score(grown: Archive) -> None:
    grown.record_result("1", "t", {"resolved": True})
    conn = _raw(grown.path)
    conn.execute("UPDATE nodes SET status='great', score=0.1 WHERE id=1")
    conn.close()
    kinds = _kinds(fsck(grown.path, git_objects=False))
    assert ("bad-status", "1") in kinds and ("score-mismatch", "1") in kinds


def test_corrupted_sqlite_file(grown: Archive, capsys) -> None:
    grown.close()
    db = grown.path / "archive.sqlite"
    for side in ("archive.sqlite-wal", "archive.sqlite-shm"):
        (grown.path / side).unlink(missing_ok=True)
    data = bytearray(db.read_bytes())
    data[0:100] = b"\xff" * 100  # the header
    db.write_bytes(bytes(data))
    report = fsck(grown.path)
    assert _kinds(report) == [("index-corrupt", None)]
    assert "archive.sqlite" in report.problems[0].message
    assert main(["archive", "fsck", str(grown.path)]) == 1
    assert "index-corrupt" in capsys.readouterr().out
    assert main(["archive", "list", str(grown.path)]) == 2  # other verbs: bad input
    assert "corrupted" in capsys.readouterr().err


def test_corrupted_sqlite_pages(grown: Archive) -> None:
    grown.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    grown.close()
    db = grown.path / "archive.sqlite"
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) > 2 * page
    data[page + 8: 2 * page] = b"\x07" * (page - 8)  # trash the second page's cells
    db.write_bytes(bytes(data))
    report = fsck(grown.path)
    assert not report.ok and report.problems[0].kind == "index-corrupt"


def test_dangling_packed_ref_and_git_object_damage(grown: Archive) -> None:
    subprocess.run(["git", "--git-dir", str(grown.path / "archive.git"), "update-ref",
                    "refs/dgm/nodes/17", grown.get("1").commit], check=True)
    subprocess.run(["git", "--git-dir", str(grown.path / "archive.git"), "pack-refs", "--all"],
                   check=True)
    blob = subprocess.run(["git", "--git-dir", str(grown.path / "archive.git"), "rev-parse",
                           f"{grown.get('3').commit}:agent.py"], check=True, capture_output=True,
                          text=True).stdout.strip()
    obj = grown.path / "archive.git" / "objects" / blob[:2] / blob[2:]
    obj.chmod(0o644)
    obj.write_bytes(b"not zlib")
    report = fsck(grown.path)
    kinds = _kinds(report)
    assert ("dangling-ref", "17") in kinds
    assert any(k == "git-object" for k, _ in kinds)
    assert fsck(grown.path, git_objects=False).problems == [p for p in report.problems
                                                             if p.kind != "git-object"]


def test_not_an_archive(tmp_path: Path) -> None:
    with pytest.raises(NotAnArchive):
        fsck(tmp_path)
    assert main(["archive", "fsck", str(tmp_path / "missing")]) == 2


def test_unreadable_git_repository(grown: Archive) -> None:
    (grown.path / "archive.git" / "HEAD").unlink()
    report = fsck(grown.path)
    assert [p.kind for p in report.problems] == ["git-unreadable"]
