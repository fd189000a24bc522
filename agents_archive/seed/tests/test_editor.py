"""The file editor."""

from __future__ import annotations

import pytest

from coder.editor import EditError, Editor


@pytest.fixture
def editor(tmp_path):
    (tmp_path / "f.py").write_text("one\ntwo\nthree\ntwo\n")
    return Editor(str(tmp_path))


def test_view_whole_file_and_range(editor):
    assert editor.view("f.py") == "1\tone\n2\ttwo\n3\tthree\n4\ttwo"
    assert editor.view("f.py", [2, 3]) == "2\ttwo\n3\tthree"
    assert editor.view("f.py", [3, -1]) == "3\tthree\n4\ttwo"
    with pytest.raises(EditError):
        editor.view("f.py", [9, 10])


def test_view_directory_lists_files(editor, tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("")
    listing = editor.view(".")
    assert "f.py" in listing and "m.py" in listing


def test_str_replace_refuses_missing_and_ambiguous(editor, tmp_path):
    with pytest.raises(EditError, match="not found"):
        editor.str_replace("f.py", "four", "4")
    with pytest.raises(EditError, match="2 times"):
        editor.str_replace("f.py", "two", "2")
    out = editor.str_replace("f.py", "three\ntwo", "three\nTWO")
    assert (tmp_path / "f.py").read_text() == "one\ntwo\nthree\nTWO\n"
    assert "4\tTWO" in out


def test_insert_and_undo(editor, tmp_path):
    editor.insert("f.py", 0, "zero")
    editor.insert("f.py", 5, "five\n")
    assert (tmp_path / "f.py").read_text() == "zero\none\ntwo\nthree\ntwo\nfive\n"
    with pytest.raises(EditError):
        editor.insert("f.py", 99, "x")
    editor.undo_edit("f.py")
    editor.undo_edit("f.py")
    assert (tmp_path / "f.py").read_text() == "one\ntwo\nthree\ntwo\n"
    with pytest.raises(EditError, match="no edit"):
        editor.undo_edit("f.py")


def test_create_new_and_undo_removes_it(editor, tmp_path):
    editor.create("new/dir/g.py", "x = 1\n")
    assert (tmp_path / "new" / "dir" / "g.py").read_text() == "x = 1\n"
    editor.undo_edit("new/dir/g.py")
    assert not (tmp_path / "new" / "dir" / "g.py").exists()
    with pytest.raises(EditError, match="does not exist"):
        editor.view("missing.py")


def test_binary_and_undecodable_files_are_shown_safely(editor, tmp_path):
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02")
    assert "binary" in editor.view("blob.bin")
    (tmp_path / "latin.py").write_bytes(b"name = '\xe9t\xe9'\n")
    assert editor.view("latin.py") == "1\tname = '\ufffdt\ufffd'"
    editor.str_replace("latin.py", "name", "title")  # the original bytes survive an edit
    assert (tmp_path / "latin.py").read_bytes() == b"title = '\xe9t\xe9'\n"
