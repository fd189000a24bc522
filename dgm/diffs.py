"""Unified diffs read the way git applies them, refused where that reading is ambiguous.

A patch from a model or a sandbox is data. Whatever decides which paths it touches (the
test-file rule, a self-modification's path checks) must read the same paths that the tool
applying it will write. So this parser follows `git apply`'s grammar strictly: a block's
`diff --git` names, its `---`/`+++` names and its rename/copy lines must agree; hunks must
have exactly the lines their `@@` header counts; text between blocks that git or GNU patch
could take for a patch is refused. Callers then apply `render_diff` of what was parsed (or
`apply_diff`, in Python), never the raw text, so what is applied is what was checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from dgm.errors import AgentFailure

MAX_DIFF_BYTES = 50_000_000
DEV_NULL = "/dev/null"
LINK_MODE = "120000"
GITLINK_MODE = "160000"
_MODES = {"100644", "100755", LINK_MODE, GITLINK_MODE}
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$")
_INDEX = re.compile(r"^index [0-9a-f]+\.\.[0-9a-f]+(?: (\d{6}))?$")
_SCORE = re.compile(r"^(?:dis)?similarity index \d{1,3}%$")
# Lines that git, GNU patch or the official harness may start reading a patch at.
_PATCHLIKE = re.compile(r"^(---|\+\+\+|@@|\*\*\*|diff |Index: |GIT binary patch|Binary files |"
                        r"rename |copy |new file mode|deleted file mode|\d+(,\d+)?[acd]\d+(,\d+)?$)")
_UNQUOTE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", '"': '"', "\\": "\\"}


class DiffRefused(AgentFailure):
    """A diff that cannot be read unambiguously, or that names a path no patch may touch."""


@dataclass(frozen=True)
class Hunk:
    """One `@@` section: its header numbers and its lines (with their ' ', '-', '+', '\\' prefix)."""

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    lines: tuple[str, ...]

    def header(self) -> str:
        return f"@@ -{self.old_start},{self.old_len} +{self.new_start},{self.new_len} @@"


@dataclass(frozen=True)
class FileDiff:
    """One file's block. old_path None: the file is created; new_path None: it is deleted."""

    old_path: str | None
    new_path: str | None
    old_mode: str | None
    new_mode: str | None
    hunks: tuple[Hunk, ...]
    binary: bool
    text: str  # the block in canonical form: what render_diff emits for it
    operation: str = "modify"  # modify | create | delete | rename | copy

    @property
    def paths(self) -> tuple[str, ...]:
        """Every path the block touches: old, then new when it differs."""
        out = [p for p in (self.old_path, self.new_path) if p is not None]
        return tuple(dict.fromkeys(out))

    @property
    def is_link(self) -> bool:
        return LINK_MODE in (self.old_mode, self.new_mode)


def parse_diff(text: str) -> list[FileDiff]:
    """The blocks of TEXT, strictly; DiffRefused names the line and the reason otherwise."""
    if len(text) > MAX_DIFF_BYTES:
        raise DiffRefused(f"the diff is larger than {MAX_DIFF_BYTES} bytes")
    if "\0" in text:
        raise DiffRefused("the diff contains a NUL byte")
    return _Parser(text.split("\n")).blocks()


def render_diff(files: Iterable[FileDiff]) -> str:
    """The canonical text of FILES: the only text callers hand to git or patch."""
    return "".join(f.text for f in files)


def changed_paths(text: str) -> list[str]:
    """Every path TEXT touches, in order, read as git applies it (DiffRefused if unreadable)."""
    out: dict[str, None] = {}
    for block in parse_diff(text):
        out.update(dict.fromkeys(block.paths))
    return list(out)


# ---- paths ----------------------------------------------------------------------------------
def check_path(path: str, where: str) -> str:
    """PATH if it is a plain relative path inside the tree; DiffRefused otherwise."""
    parts = path.split("/")
    bad = (not path or path.startswith("/") or "\\" in path or "\0" in path
           or any(p in ("", ".", "..") for p in parts) or any(p.casefold() == ".git" for p in parts))
    if bad:
        raise DiffRefused(f"{where} names the path {path!r}, which is not a plain path inside the tree")
    return path


def _unquote(token: str, where: str) -> tuple[str, str]:
    """A C-quoted name at the start of TOKEN ("a/x\\ty" ...), and the rest after it."""
    out = bytearray()
    i = 1
    while i < len(token):
        ch = token[i]
        if ch == '"':
            return out.decode("utf-8", "surrogateescape"), token[i + 1:]
        if ch == "\\":
            nxt = token[i + 1:i + 2]
            if nxt in _UNQUOTE:
                out += _UNQUOTE[nxt].encode()
                i += 2
                continue
            if re.match(r"[0-3][0-7]{2}", token[i + 1:i + 4]):
                out.append(int(token[i + 1:i + 4], 8))
                i += 4
                continue
            raise DiffRefused(f"{where}: bad escape in a quoted path")
        out += ch.encode("utf-8", "surrogateescape")
        i += 1
    raise DiffRefused(f"{where}: unterminated quoted path")


def _quote(path: str) -> str:
    """Path as git writes it, quoted whenever a reader could split or misread it."""
    if not re.search(r'[\x00-\x20"\\\x7f]', path) and path.isascii():
        return path
    out = []
    for byte in path.encode("utf-8", "surrogateescape"):
        ch = chr(byte)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif byte < 0x20 or byte >= 0x7f:
            out.append(f"\\{byte:03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _prefixed(prefix: str, path: str | None) -> str:
    return DEV_NULL if path is None else _quote(prefix + path)


def _strip_prefix(name: str, where: str, *, git: bool) -> str | None:
    """The path behind a/ or b/ (git) or behind the first component (traditional, as -p1 does)."""
    if name == DEV_NULL:
        return None
    if git:
        if not name.startswith(("a/", "b/")):
            raise DiffRefused(f"{where}: path {name!r} lacks git's a/ or b/ prefix")
        return check_path(name[2:], where)
    if "/" not in name:
        raise DiffRefused(f"{where}: path {name!r} has no leading directory for -p1 to strip")
    return check_path(name.split("/", 1)[1], where)


def _name_field(rest: str, where: str) -> str:
    """The file name of a ---/+++ line: quoted, or up to a tab (a timestamp may follow)."""
    if rest.startswith('"'):
        name, tail = _unquote(rest, where)
        if tail.strip():
            raise DiffRefused(f"{where}: text after a quoted path")
        return name
    name = rest.split("\t", 1)[0]
    if name != name.rstrip() and "\t" not in rest:
        raise DiffRefused(f"{where}: trailing space after a path (ambiguous)")
    return name


def _header_names(rest: str, where: str) -> list[tuple[str, str]]:
    """Possible (a, b) splits of a `diff --git` line; git picks among them by the other headers."""
    if rest.startswith('"'):
        first, tail = _unquote(rest, where)
        if not tail.startswith(" "):
            raise DiffRefused(f"{where}: bad diff --git line")
        tail = tail[1:]
        second = _unquote(tail, where)[0] if tail.startswith('"') else tail
        if tail.startswith('"') and _unquote(tail, where)[1]:
            raise DiffRefused(f"{where}: text after the quoted paths")
        return [(first, second)]
    if '"' in rest:
        first, tail = rest.split(' "', 1)
        second, after = _unquote('"' + tail, where)
        if after:
            raise DiffRefused(f"{where}: text after the quoted path")
        return [(first, second)]
    return [(rest[:m.start()], rest[m.start() + 1:]) for m in re.finditer(r" b/", rest)]


# ---- the parser ----------------------------------------------------------------------------
class _Parser:
    def __init__(self, lines: list[str]) -> None:
        if lines and lines[-1] == "":
            lines = lines[:-1]  # the text ended with a newline
        self.lines = lines
        self.i = 0

    def where(self, i: int | None = None) -> str:
        return f"diff line {(self.i if i is None else i) + 1}"

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.lines[j] if j < len(self.lines) else None

    def blocks(self) -> list[FileDiff]:
        out: list[FileDiff] = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.startswith("diff --git "):
                out.append(self.git_block())
            elif line.startswith("--- ") and (self.peek(1) or "").startswith("+++ "):
                out.append(self.traditional_block())
            elif _PATCHLIKE.match(line) or (out and line[:1] in ("+", "-", " ", "\\") and line.strip()):
                # after a block, a +/- line is a hunk that overran its count: a reader could apply it
                raise DiffRefused(f"{self.where()}: {line[:60]!r} is outside any complete block")
            else:
                self.i += 1  # prose around the diff (a commit message): not applied, not read
        if not out:
            raise DiffRefused("the text holds no diff block")
        return out

    def traditional_block(self) -> FileDiff:
        where = self.where()
        old = _strip_prefix(_name_field(self.lines[self.i][4:], where), where, git=False)
        new = _strip_prefix(_name_field(self.lines[self.i + 1][4:], where), where, git=False)
        self.i += 2
        if old is not None and new is not None and old != new:
            raise DiffRefused(f"{where}: the --- path {old!r} and the +++ path {new!r} disagree")
        if old is None and new is None:
            raise DiffRefused(f"{where}: both sides are /dev/null")
        hunks = self.hunks(where)
        if not hunks:
            raise DiffRefused(f"{where}: a ---/+++ pair without hunks")
        op = "create" if old is None else "delete" if new is None else "modify"
        return _finish(old, new, None, "100644" if op == "create" else None, hunks, False, op, [])

    def git_block(self) -> FileDiff:
        where = self.where()
        splits = _header_names(self.lines[self.i][len("diff --git "):], where)
        self.i += 1
        fields: dict[str, str] = {}
        minus = plus = None
        index = ""
        binary_lines: list[str] = []
        while (line := self.peek()) is not None:
            key = next((k for k in ("old mode ", "new mode ", "deleted file mode ", "new file mode ",
                                    "rename from ", "rename to ", "copy from ", "copy to ")
                        if line.startswith(k)), None)
            if key:
                if key in fields:
                    raise DiffRefused(f"{self.where()}: {key.strip()!r} given twice")
                fields[key] = line[len(key):]
            elif _SCORE.match(line):
                pass
            elif _INDEX.match(line):
                index = line
            elif line.startswith("--- ") and minus is None:
                minus = _name_field(line[4:], self.where())
                nxt = self.peek(1) or ""
                if not nxt.startswith("+++ "):
                    raise DiffRefused(f"{self.where()}: a --- line not followed by +++")
                plus = _name_field(nxt[4:], self.where(self.i + 1))
                self.i += 2
                break
            elif line.startswith(("Binary files ", "GIT binary patch")):
                binary_lines = self.binary_section()
                break
            else:
                break
            self.i += 1
        for key, value in list(fields.items()):
            if key.endswith("mode ") and value not in _MODES:
                raise DiffRefused(f"{where}: unknown file mode {value!r}")
        old, new, op = self.git_names(where, splits, fields, minus, plus)
        hunks = self.hunks(where) if minus is not None else []
        if minus is not None and not hunks:
            raise DiffRefused(f"{where}: a ---/+++ pair without hunks")
        old_mode = fields.get("old mode ") or fields.get("deleted file mode ")
        new_mode = fields.get("new mode ") or fields.get("new file mode ")
        if not hunks and not binary_lines and op == "modify" and not (old_mode and new_mode):
            raise DiffRefused(f"{where}: a block that changes nothing")
        if binary_lines and index:
            binary_lines = [index, *binary_lines]  # git applies binary data only with the full index
        return _finish(old, new, old_mode, new_mode, hunks, bool(binary_lines), op, binary_lines)

    def git_names(self, where: str, splits: list[tuple[str, str]], fields: dict[str, str],
                  minus: str | None, plus: str | None) -> tuple[str | None, str | None, str]:
        """Old and new path of a git block; every source of a name must agree."""
        moved = [k for k in ("rename ", "copy ") if f"{k}from " in fields or f"{k}to " in fields]
        created, deleted = "new file mode " in fields, "deleted file mode " in fields
        if len(moved) > 1 or (moved and (created or deleted)) or (created and deleted):
            raise DiffRefused(f"{where}: contradictory create/delete/rename/copy headers")
        if moved:
            kind = moved[0]
            if f"{kind}from " not in fields or f"{kind}to " not in fields:
                raise DiffRefused(f"{where}: {kind.strip()} without both from and to")
            old = check_path(_name_field(fields[f"{kind}from "], where), where)
            new = check_path(_name_field(fields[f"{kind}to "], where), where)
            op = kind.strip()
        else:
            same = [(a, b) for a, b in splits if a[2:] == b[2:]]
            if len(same) != 1 or not same[0][0].startswith("a/") or not same[0][1].startswith("b/"):
                raise DiffRefused(f"{where}: the diff --git line does not name one path as a/P b/P")
            old = new = check_path(same[0][0][2:], where)
            op = "create" if created else "delete" if deleted else "modify"
        if not any(a == "a/" + old and b == "b/" + new for a, b in splits):
            raise DiffRefused(f"{where}: the diff --git line disagrees with the block's other headers")
        if minus is not None:
            want_minus = DEV_NULL if op == "create" else "a/" + old
            want_plus = DEV_NULL if op == "delete" else "b/" + new
            if minus != want_minus or plus != want_plus:
                raise DiffRefused(f"{where}: the ---/+++ paths ({minus!r}, {plus!r}) disagree with "
                                  f"the diff --git line ({want_minus!r}, {want_plus!r})")
        return (None if op == "create" else old), (None if op == "delete" else new), op

    def binary_section(self) -> list[str]:
        """The lines of a binary block, kept verbatim (they are applied by git or refused)."""
        first = self.lines[self.i]
        out = [first]
        self.i += 1
        if first.startswith("Binary files "):
            return out
        for _ in range(2):  # forward data, then optional reverse data
            line = self.peek()
            if line is None or not re.match(r"^(literal|delta) \d+$", line):
                break
            out.append(line)
            self.i += 1
            while (line := self.peek()) is not None and line != "":
                if not re.match(r"^[A-Za-z][0-9A-Za-z!#$%&()*+;<=>?@^_`{|}~-]+$", line):
                    raise DiffRefused(f"{self.where()}: malformed binary patch data")
                out.append(line)
                self.i += 1
            if line == "":
                out.append(line)
                self.i += 1
        return out

    def hunks(self, where: str) -> list[Hunk]:
        hunks: list[Hunk] = []
        while (line := self.peek()) is not None and line.startswith("@@"):
            m = _HUNK.match(line)
            if not m:
                raise DiffRefused(f"{self.where()}: malformed hunk header {line[:60]!r}")
            old_len = int(m[2]) if m[2] is not None else 1
            new_len = int(m[4]) if m[4] is not None else 1
            self.i += 1
            body: list[str] = []
            left_old, left_new = old_len, new_len
            while left_old > 0 or left_new > 0:
                line = self.peek()
                if line is None:
                    raise DiffRefused(f"{where}: a hunk ends before the {old_len}/{new_len} lines "
                                      f"its header counts")
                tag = line[:1]
                if line == "" or tag == " ":
                    left_old, left_new = left_old - 1, left_new - 1
                    line = " " + line[1:]
                elif tag == "-":
                    left_old -= 1
                elif tag == "+":
                    left_new -= 1
                elif tag == "\\" and body:
                    pass
                else:
                    raise DiffRefused(f"{self.where()}: {line[:60]!r} inside a hunk that still "
                                      f"counts {left_old} old and {left_new} new lines")
                if left_old < 0 or left_new < 0:
                    raise DiffRefused(f"{self.where()}: a hunk has more lines than its header counts")
                body.append(line)
                self.i += 1
            if (self.peek() or "").startswith("\\") and body:
                body.append(self.lines[self.i])
                self.i += 1
            if not any(b[:1] in "-+" for b in body):
                raise DiffRefused(f"{where}: a hunk that changes nothing")
            hunks.append(Hunk(int(m[1]), old_len, int(m[3]), new_len, tuple(body)))
        return hunks


def _finish(old: str | None, new: str | None, old_mode: str | None, new_mode: str | None,
            hunks: list[Hunk], binary: bool, op: str, binary_lines: list[str]) -> FileDiff:
    """The block with its canonical text, written from the parsed fields alone."""
    a, b = old if old is not None else new, new if new is not None else old
    out = [f"diff --git {_quote('a/' + a)} {_quote('b/' + b)}"]
    if op == "create":
        out.append(f"new file mode {new_mode or '100644'}")
    elif op == "delete":
        out.append(f"deleted file mode {old_mode or '100644'}")
    elif old_mode and new_mode:
        out += [f"old mode {old_mode}", f"new mode {new_mode}"]
    if op in ("rename", "copy"):
        out += [f"{op} from {_quote(a)}", f"{op} to {_quote(b)}"]
    if binary_lines:
        out += binary_lines
    elif hunks:
        out += [f"--- {_prefixed('a/', old)}", f"+++ {_prefixed('b/', new)}"]
        for hunk in hunks:
            out.append(hunk.header())
            out += hunk.lines
    text = "\n".join(out) + "\n"
    return FileDiff(old, new, old_mode, new_mode if op != "delete" else None, tuple(hunks), binary,
                    text, op)
