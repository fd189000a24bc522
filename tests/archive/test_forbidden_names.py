"""Names an agent tree may not hold (agents_archive/README.md) are refused at every way into the
archive: `dgm archive init --seed`, `dgm archive add`, and a checkout of a tree stored before the rule."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dgm.archive import Archive
from dgm.archive.names import forbidden_name
from dgm.archive.snapshot import import_tree
from dgm.cli import main
from dgm.errors import ArchiveError
from tests.archive import hostile
from tests.archive.test_cli import state


@pytest.mark.parametrize("name, canonical", [
    (".git", ".git"), (".GIT", ".git"), (".git.", ".git"), (".git ", ".git"), (".git::$INDEX_ALLOCATION", ".git"),
    ("git~1", ".git"), ("GIT~1", ".git"), (".g\u200cit", ".git"), ("\ufeff.git", ".git"),
    ("HEAD", "HEAD"), ("head", "HEAD"), ("Head.", "HEAD"),
    (".gitattributes", ".gitattributes"), (".GitAttributes", ".gitattributes"), (".gitmodules", ".gitmodules"),
    (".hg", ".hg"), (".svn", ".svn"), (".bzr", ".bzr"), ("_darcs", "_darcs"),
])
def test_forbidden_names_in_their_disguises(name: str, canonical: str) -> None:
    assert forbidden_name(name) == canonical


@pytest.mark.parametrize("name", ["head.py", "HEADER", "ahead", ".github", ".gitignore", "config", "objects",
                                  "refs", "hooks", "info", "git", ".gitx", "commondir", "gitdir"])
def test_ordinary_names_are_allowed(name: str) -> None:
    assert forbidden_name(name) is None


def bare_repo_at_root(tree: Path, markers: Path) -> None:
    hostile.plant(tree, markers)


def bare_repo_in_subdir(tree: Path, markers: Path) -> None:
    hostile.plant(tree, markers, "tools/vendored/")


def gitdir_file(tree: Path, markers: Path) -> None:
    hostile.plant(tree.parent / "elsewhere", markers)
    (tree / "tools" / ".git").write_text(f"gitdir: {tree.parent / 'elsewhere'}\n")


def dot_git_directory(tree: Path, markers: Path) -> None:
    hostile.plant(tree, markers, ".git/")  # a tree exported with its repository: refused, not skipped


def gitattributes(tree: Path, markers: Path) -> None:
    (tree / ".gitattributes").write_text("* filter=x\n")


def head_link(tree: Path, markers: Path) -> None:
    os.symlink("agent.py", tree / "tools" / "HEAD")  # a link inside the tree, but named HEAD


VARIANTS = {
    "bare repo at root": (bare_repo_at_root, "HEAD"),
    "bare repo in a subdirectory": (bare_repo_in_subdir, "HEAD"),
    ".git file pointing elsewhere": (gitdir_file, ".git"),
    ".git directory": (dot_git_directory, ".git"),
    ".gitattributes": (gitattributes, ".gitattributes"),
    "link named HEAD": (head_link, "HEAD"),
}


@pytest.mark.parametrize("variant", VARIANTS)
def test_archive_add_refuses_a_tree_with_a_forbidden_name(variant: str, tmp_path: Path, make_tree, capsys) -> None:
    plant, name = VARIANTS[variant]
    markers = tmp_path / "markers"
    markers.mkdir()
    run = tmp_path / "run"
    assert main(["archive", "init", str(run), "--seed", str(make_tree(0, "seed"))]) == 0
    before = state(run)
    tree = make_tree(1)
    plant(tree, markers)
    capsys.readouterr()
    assert main(["archive", "add", str(run), "--parent", "0", "--tree", str(tree)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"read as {name}" in err and "agents_archive/README.md" in err
    assert state(run) == before
    assert hostile.ran(markers) == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_archive_init_refuses_a_seed_with_a_forbidden_name(variant: str, tmp_path: Path, make_tree, capsys) -> None:
    plant, name = VARIANTS[variant]
    markers = tmp_path / "markers"
    markers.mkdir()
    seed = make_tree(0, "seed")
    plant(seed, markers)
    assert main(["archive", "init", str(tmp_path / "run"), "--seed", str(seed)]) == 2
    assert f"read as {name}" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert hostile.ran(markers) == []


def test_checkout_refuses_a_tree_stored_before_the_rule(archive: Archive, make_tree, tmp_path: Path) -> None:
    # An archive written by an older dgm: the tree went in as it was (written here object by object).
    git = archive.git
    blob = git.write_object(b"blob", b"ref: refs/heads/main\n")
    inner = git.write_tree_entries([("100644", b"HEAD", blob)])
    top = import_tree(git, make_tree(3))
    listing = git.git("ls-tree", top).decode().splitlines()
    entries = [(m, os.fsencode(p), s) for m, _, s, p in (l.replace("\t", " ").split(" ", 3) for l in listing)]
    tree = git.write_tree_entries(entries + [("40000", b"vendored", inner)])
    commit = git.write_commit(tree, archive.get("0").commit, "old node")
    with pytest.raises(ArchiveError, match="HEAD"):
        git.checkout(commit, tmp_path / "out")
    assert not (tmp_path / "out" / "vendored").exists()
