"""A file editor for the model: view, create, exact-string replace, insert, undo."""

from __future__ import annotations

import os
from typing import Dict, List, Optional

VIEW_LIMIT = 400  # lines shown when no range is given, so one view cannot flood the context


class EditError(Exception):
    """The edit was refused; the message tells the model why and what to do instead."""


class Editor:
    """Edits files under a repository; remembers each file's previous contents for undo."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.history: Dict[str, List[Optional[str]]] = {}

    def path(self, path: str) -> str:
        return os.path.normpath(path if os.path.isabs(path) else os.path.join(self.root, path))

    def view(self, path: str, view_range: Optional[List[int]] = None) -> str:
        full = self.path(path)
        if os.path.isdir(full):
            entries = []
            for dirpath, dirnames, filenames in os.walk(full):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                depth = dirpath[len(full):].count(os.sep)
                if depth >= 2:
                    dirnames[:] = []
                entries += [os.path.join(dirpath, n) for n in sorted(filenames) if not n.startswith(".")]
            return "\n".join(entries[:500]) + ("\n[... more files not shown]" if len(entries) > 500 else "")
        text = self._read(full)
        if "\0" in text:
            return "%s looks binary (it contains NUL bytes); not shown" % path
        # Undecodable bytes are kept for editing (surrogateescape) but shown as U+FFFD.
        lines = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace").splitlines()
        start, end = 1, len(lines)
        if view_range:
            if len(view_range) != 2:
                raise EditError("view_range must be [start, end] (1-based; end -1 means the last line)")
            start, end = int(view_range[0]), int(view_range[1])
            end = len(lines) if end == -1 else min(end, len(lines))
            if start < 1 or start > max(end, 1):
                raise EditError("invalid view_range %s: the file has %d lines" % (view_range, len(lines)))
        note = ""
        if not view_range and len(lines) > VIEW_LIMIT:
            end = VIEW_LIMIT
            note = "\n[file has %d lines; showing 1-%d, use view_range for more]" % (len(lines), end)
        width = len(str(end))
        shown = ["%*d\t%s" % (width, n, lines[n - 1]) for n in range(start, end + 1)]
        return "\n".join(shown) + note

    def create(self, path: str, file_text: str) -> str:
        full = self.path(path)
        existed = os.path.exists(full)
        if os.path.isdir(full):
            raise EditError("%s is a directory" % path)
        self._remember(full, self._read(full) if existed else None)
        os.makedirs(os.path.dirname(full) or ".", exist_ok=True)
        self._write(full, file_text)
        return ("overwrote %s" if existed else "created %s") % path

    def str_replace(self, path: str, old_str: str, new_str: str) -> str:
        full = self.path(path)
        text = self._read(full)
        count = text.count(old_str) if old_str else 0
        if count == 0:
            raise EditError("old_str was not found in %s; view the file and copy the text exactly "
                            "(whitespace included)" % path)
        if count > 1:
            raise EditError("old_str occurs %d times in %s; include more surrounding lines so it "
                            "is unique" % (count, path))
        self._remember(full, text)
        new_text = text.replace(old_str, new_str, 1)
        self._write(full, new_text)
        line = text[:text.index(old_str)].count("\n") + 1
        return "edited %s; the changed region now reads:\n%s" % (path, self._snippet(new_text, line, new_str))

    def insert(self, path: str, insert_line: int, new_str: str) -> str:
        full = self.path(path)
        text = self._read(full)
        lines = text.splitlines(True)
        if insert_line < 0 or insert_line > len(lines):
            raise EditError("insert_line must be between 0 and %d (the number of lines)" % len(lines))
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        block = new_str if new_str.endswith("\n") else new_str + "\n"
        self._remember(full, text)
        new_text = "".join(lines[:insert_line]) + block + "".join(lines[insert_line:])
        self._write(full, new_text)
        return "inserted after line %d of %s:\n%s" % (insert_line, path,
                                                      self._snippet(new_text, insert_line + 1, block))

    def undo_edit(self, path: str) -> str:
        full = self.path(path)
        stack = self.history.get(full)
        if not stack:
            raise EditError("no edit of %s to undo" % path)
        previous = stack.pop()
        if previous is None:
            os.remove(full)
            return "undid the creation of %s (file removed)" % path
        self._write(full, previous)
        return "restored %s to its contents before the last edit" % path

    def _remember(self, full: str, text: Optional[str]) -> None:
        self.history.setdefault(full, []).append(text)

    @staticmethod
    def _snippet(text: str, line: int, inserted: str, context: int = 3) -> str:
        lines = text.splitlines()
        first = max(1, line - context)
        last = min(len(lines), line + inserted.count("\n") + context)
        return "\n".join("%d\t%s" % (n, lines[n - 1]) for n in range(first, last + 1))

    @staticmethod
    def _read(full: str) -> str:
        if not os.path.isfile(full):
            raise EditError("%s does not exist (paths are relative to the repository root)" % full)
        with open(full, "r", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            return fh.read()

    @staticmethod
    def _write(full: str, text: str) -> None:
        with open(full, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            fh.write(text)
