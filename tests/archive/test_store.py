"""Archive storage: nodes as real git commits with refs, SQLite rows, reads back."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from dgm.archive import Archive, Node
from dgm.errors import BadInput, NotAnArchive, UnknownNode


def git(run: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(run / "archive.git"), *args],
                          check=True, capture_output=True, text=True).stdout


def test_create_makes_root_commit_ref_and_row(archive: Archive) -> None:
    root = archive.get("0")
    assert isinstance(root, Node)
    assert (root.parent_id, root.generation, root.status) == (None, 0, "admitted")
    assert git(archive.path, "cat-file", "-t", root.commit).strip() == "commit"
    assert git(archive.path, "rev-parse", "refs/dgm/nodes/0").strip() == root.commit
    files = set(git(archive.path, "ls-tree", "-r", "--name-only", root.commit).split())
    assert files == {"agent.py", "tools/edit.py", "README.md", "docs"}
    assert (archive.path / "archive.sqlite").is_file()
    mode = sqlite3.connect(archive.path / "archive.sqlite").execute("PRAGMA journal_mode").fetchone()
    assert mode[0] == "wal"


def test_add_node_links_commit_to_parent_commit(archive: Archive, make_tree) -> None:
    child = archive.add_node("0", make_tree(1), status="admitted", improvement_task="fix edit")
    grandchild = archive.add_node(child.id, make_tree(2))
    assert (child.id, grandchild.id) == ("1", "2")
    assert (grandchild.parent_id, grandchild.generation, grandchild.status) == ("1", 2, "pending")
    parents = git(archive.path, "rev-list", "--parents", "-n1", grandchild.commit).split()
    assert parents == [grandchild.commit, child.commit]
    assert git(archive.path, "rev-parse", "refs/dgm/nodes/2").strip() == grandchild.commit
    reopened = Archive.open(archive.path)
    assert reopened.get("1").improvement_task == "fix edit"
    assert [n.id for n in reopened.children("0")] == ["1"]
    assert reopened.children_counts() == {"0": 1, "1": 1, "2": 0}


def test_checkout_round_trip_keeps_exec_bit_and_links(archive: Archive, make_tree, tmp_path: Path) -> None:
    node = archive.add_node("0", make_tree(7))
    out = archive.checkout(node.id, tmp_path / "out")
    assert "VERSION = 7" in (out / "agent.py").read_text()
    assert os.stat(out / "agent.py").st_mode & 0o111
    assert not os.stat(out / "tools" / "edit.py").st_mode & 0o111
    assert (out / "docs").is_symlink() and os.readlink(out / "docs") == "README.md"
    with pytest.raises(BadInput):
        archive.checkout(node.id, out)  # not empty


def test_junk_is_not_imported(archive: Archive, make_tree) -> None:
    tree = make_tree(3)
    (tree / "__pycache__").mkdir()
    (tree / "__pycache__" / "agent.cpython-311.pyc").write_bytes(b"\0junk")
    (tree / "tools" / "edit.pyc").write_bytes(b"\0junk")
    (tree / ".pytest_cache").mkdir()
    (tree / ".pytest_cache" / "v").write_text("x")
    node = archive.add_node("0", tree)
    files = set(git(archive.path, "ls-tree", "-r", "--name-only", node.commit).split())
    assert files == {"agent.py", "tools/edit.py", "README.md", "docs"}


def test_identical_code_has_identical_tree_hash(archive: Archive, make_tree) -> None:
    a = archive.add_node("0", make_tree(0))
    b = archive.add_node("0", make_tree(5))
    assert archive.tree_hash(a.id) == archive.tree_hash("0")
    assert archive.tree_hash(b.id) != archive.tree_hash("0")
    assert a.commit != archive.get("0").commit  # its own commit, with the root as parent


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", "../tools/../../x"])
def test_symlink_pointing_outside_is_refused_and_nothing_changes(archive: Archive, make_tree, target: str) -> None:
    tree = make_tree(1)
    os.symlink(target, tree / "tools" / "evil")
    before = git(archive.path, "for-each-ref")
    with pytest.raises(BadInput, match="outside the tree"):
        archive.add_node("0", tree)
    assert len(archive) == 1
    assert git(archive.path, "for-each-ref") == before


def test_symlink_escaping_through_another_link_is_refused(archive: Archive, make_tree) -> None:
    tree = make_tree(1)
    os.symlink("..", tree / "tools" / "up")          # tools/up -> the tree root: inside
    os.symlink("up/..", tree / "tools" / "escape")   # lexically tools/, really above the root
    with pytest.raises(BadInput, match="outside the tree"):
        archive.add_node("0", tree)


def test_results_drive_score_and_stage_scores_are_kept(archive: Archive, make_tree) -> None:
    node = archive.add_node("0", make_tree(1))
    assert archive.get(node.id).score is None
    archive.record_result(node.id, "a__a-1", {"resolved": True, "empty_patch": False, "stage": 0})
    archive.record_result(node.id, "a__a-2", {"resolved": False, "empty_patch": True, "stage": 0})
    archive.record_result(node.id, "a__a-3", {"resolved": True, "empty_patch": False, "stage": 1})
    got = archive.get(node.id)
    assert got.score == pytest.approx(2 / 3)
    assert got.results["a__a-2"]["empty_patch"] is True
    archive.record_result(node.id, "a__a-2", {"resolved": True, "empty_patch": False, "stage": 0})
    assert archive.get(node.id).score == 1.0
    updated = archive.update_node(node.id, status="admitted", stage_scores={"0": 1.0, "1": 1.0},
                                  tokens_in=10, tokens_out=5, cost_usd=0.25, wall_seconds=3.5,
                                  diagnosis={"why": "x"})
    assert (updated.status, updated.stage_scores, updated.cost_usd) == ("admitted", {"0": 1.0, "1": 1.0}, 0.25)
    assert updated.diagnosis == {"why": "x"} and updated.updated_at >= updated.created_at
    replaced = archive.update_node(node.id, results={"b": {"resolved": False}})
    assert replaced.score == 0.0


def test_update_rejects_unknown_fields_and_bad_status(archive: Archive) -> None:
    with pytest.raises(BadInput):
        archive.update_node("0", commit="deadbeef")
    with pytest.raises(BadInput):
        archive.update_node("0", status="rejected:")
    with pytest.raises(BadInput):
        archive.update_node("0", status="great")
    with pytest.raises(UnknownNode):
        archive.update_node("42", status="admitted")
    with pytest.raises(UnknownNode):
        archive.record_result("42", "x", {"resolved": True})


def test_status_filters(archive: Archive, make_tree) -> None:
    archive.add_node("0", make_tree(1), status="admitted")
    archive.add_node("0", make_tree(2), status="rejected:does not compile")
    archive.add_node("0", make_tree(3), status="rejected:empty patches")
    archive.add_node("0", make_tree(4))
    assert [n.id for n in archive.nodes("admitted")] == ["0", "1"]
    assert [n.id for n in archive.nodes("rejected")] == ["2", "3"]
    assert [n.id for n in archive.nodes("rejected:empty patches")] == ["3"]
    assert [n.id for n in archive.nodes("pending")] == ["4"]
    assert len(archive.nodes()) == 5


def test_bad_inputs_change_nothing(archive: Archive, make_tree, tmp_path: Path) -> None:
    rejected = archive.add_node("0", make_tree(1), status="rejected:broken")
    refs_before = git(archive.path, "for-each-ref")
    with pytest.raises(BadInput, match="rejected"):
        archive.add_node(rejected.id, make_tree(2))
    with pytest.raises(UnknownNode):
        archive.add_node("9", make_tree(2))
    with pytest.raises(UnknownNode):
        archive.get("abc")
    with pytest.raises(BadInput, match="does not exist"):
        archive.add_node("0", tmp_path / "missing")
    with pytest.raises(BadInput, match="status"):
        archive.add_node("0", make_tree(2), status="maybe")
    assert len(archive) == 2
    assert git(archive.path, "for-each-ref") == refs_before


def test_open_refuses_non_archives(tmp_path: Path, make_tree) -> None:
    with pytest.raises(NotAnArchive):
        Archive.open(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotAnArchive):
        Archive.open(tmp_path / "empty")
    Archive.create(tmp_path / "run", make_tree()).close()
    with pytest.raises(BadInput, match="already"):
        Archive.create(tmp_path / "run", make_tree())
    (tmp_path / "run" / "archive.sqlite").write_bytes(b"garbage" * 100)
    with pytest.raises(NotAnArchive, match="corrupted"):
        Archive.open(tmp_path / "run")


def test_artifacts_dir(archive: Archive) -> None:
    d = archive.artifacts_dir("0")
    assert d == archive.path / "artifacts" / "0" and d.is_dir()
    with pytest.raises(UnknownNode):
        archive.artifacts_dir("3")


def test_recover_removes_ref_without_row(archive: Archive, make_tree) -> None:
    node = archive.add_node("0", make_tree(1))
    # The residue an add leaves when it dies between its ref and its row.
    archive.git.write_ref("2", node.commit)
    reopened = Archive.open(archive.path)
    assert not (archive.path / "archive.git" / "refs" / "dgm" / "nodes" / "2").exists()
    assert reopened.add_node("0", make_tree(2)).id == "2"


def test_threads_share_one_archive(archive: Archive, make_tree) -> None:
    """The loop's workers record results and add nodes from several threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    node = archive.add_node("0", make_tree(1), status="admitted")
    trees = [make_tree(10 + i) for i in range(8)]

    def work(i: int) -> str:
        for j in range(25):
            archive.record_result(node.id, f"t{i}-{j}", {"resolved": j % 2 == 0})
        return archive.add_node(node.id, trees[i]).id

    with ThreadPoolExecutor(4) as pool:
        added = list(pool.map(work, range(8)))
    assert sorted(added, key=int) == [str(i) for i in range(2, 10)]
    got = archive.get(node.id)
    assert len(got.results) == 200 and got.score == pytest.approx(13 / 25)
    assert [c.id for c in archive.children(node.id)] == sorted(added, key=int)


def test_unreadable_file_is_bad_input(archive: Archive, make_tree) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    tree = make_tree(1)
    (tree / "secret.py").write_text("x = 1\n")
    os.chmod(tree / "secret.py", 0)
    with pytest.raises(BadInput, match="cannot read secret.py"):
        archive.add_node("0", tree)


def test_fifo_is_refused(archive: Archive, make_tree) -> None:
    tree = make_tree(1)
    os.mkfifo(tree / "pipe")
    with pytest.raises(BadInput, match="not a file, directory or symlink"):
        archive.add_node("0", tree)
    assert len(archive) == 1


def test_create_that_died_can_be_run_again(tmp_path: Path, make_tree) -> None:
    run = tmp_path / "run"
    Archive.create(run, make_tree(0)).close()
    # What a create killed before its last step leaves: the repository and a half index.
    (run / "archive.sqlite").rename(run / "archive.sqlite.creating")
    with pytest.raises(NotAnArchive):
        Archive.open(run)
    with Archive.create(run, make_tree(1)) as archive:
        assert len(archive) == 1
        assert "VERSION = 1" in git(run, "show", f"{archive.get('0').commit}:agent.py")
    assert not (run / "archive.sqlite.creating").exists()
