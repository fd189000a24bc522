"""Hints of the fix in a rebuilt environment: found, stripped where they are release notes, recorded.

A rebuilt instance's "before" state is a later release with the fix reversed, so files the gold
patch never touched can still describe the fix: the changelog entry of the release that shipped
it, release notes, later code or docs naming an option the fix adds (sphinx-8273's docs name the
option its hidden test checks). An agent that greps the tree would find the answer the problem
statement does not give. At build time dgm strips changelog and release-note entries of the
instance's own version series and later, then scans the tree for what the gold patch defines
that the problem statement does not name; what is still found marks the instance as leaking.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dgm.diffs import DiffRefused, parse_diff

MAX_FILE_BYTES = 2_000_000
MAX_TERMS = 60
SHOW = 5
_SKIP_DIRS = {".git", "__pycache__", ".tox", "node_modules"}
# Names that a definition in a fix does not make a hint of it (dunders, common short words).
_COMMON = set(keyword.kwlist) | {"self", "cls", "args", "kwargs", "None", "True", "False", "value", "result",
                                  "name", "names", "data", "other", "item", "items", "key", "keys", "node"}
_DEF = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)")
_ASSIGN = re.compile(r"^([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)")  # module level: a local is no API
_CONFIG = re.compile(r"""add_config_value\(\s*['"]([A-Za-z_]\w*)['"]""")
_STRING = re.compile(r"""(?<![\w'"])(?:'([^'\\\n]{12,200})'|"([^"\\\n]{12,200})")""")
_VERSION = r"v?(\d+)\.(\d+)(?:\.(\d+))?(?:[.-]?(?:a|b|rc|dev|post)\d*)?"
_RELEASE_FILE = re.compile(rf"^(?:whats_new_|release[-_]?)?{_VERSION}\.(?:txt|rst|md)$", re.I)
_CHANGELOG_NAME = re.compile(r"^(?:changes|changelog|history|news|release[-_]?notes|whatsnew)(?:\.\w+)?$", re.I)
_NOTES_DIRS = {"releases", "release_notes", "release-notes", "prev_whats_new", "whatsnew"}
_FRAGMENTS_DIR = "changelog"  # towncrier fragments: entries not yet released when the archive was cut
_UNDERLINE = re.compile(r"^([=\-~^*+#`])\1{2,}\s*$")
_MD_HEADING = re.compile(r"^#{1,3}\s")
_HEADING_VERSION = re.compile(rf"(?<![\w.]){_VERSION}(?![\w.])")
STUB = "(Release notes of the task's version and later were removed from this environment.)\n"


@dataclass
class HintReport:
    """What one build found: the terms looked for, the notes stripped, where terms still occur."""

    terms: list[str] = field(default_factory=list)
    stripped: list[str] = field(default_factory=list)  # "CHANGES: 3.5.0, 3.5.1" or a whole file
    found_before_strip: dict[str, list[str]] = field(default_factory=dict)  # term -> paths
    found: dict[str, list[str]] = field(default_factory=dict)  # after stripping: the leaks

    @property
    def leaks(self) -> bool:
        return bool(self.found)

    def to_dict(self) -> dict:
        return {**asdict(self), "leaks": self.leaks}


def _vkey(major: str, minor: str, micro: str | None) -> tuple[int, int, int]:
    return int(major), int(minor), int(micro or 0)


def series_key(version: str) -> tuple[int, int, int] | None:
    """(major, minor, micro) of a task's `version` ("3.5" -> (3, 5, 0)), None if it has none."""
    m = re.match(_VERSION, version.strip())
    return _vkey(*m.groups()) if m else None


def fix_terms(gold_patch: str, problem_statement: str) -> list[str]:
    """Names the gold patch defines (functions, classes, assignments, Sphinx config values) and the
    long string literals it adds, that neither its removed or context lines nor the problem
    statement contain: what only the fix knows."""
    try:
        files = parse_diff(gold_patch)
    except DiffRefused:
        return []
    added: list[str] = []
    old: list[str] = []
    for f in files:
        for hunk in f.hunks:
            for line in hunk.lines:
                (added if line.startswith("+") else old).append(line[1:])
    old_text = "\n".join(old)
    terms: list[str] = []
    for line in added:
        found = [m.group(1) for m in (_DEF.match(line), _ASSIGN.match(line)) if m]
        found += _CONFIG.findall(line)
        found += [a or b for a, b in _STRING.findall(line) if " " in (a or b) or "_" in (a or b)]
        for term in found:
            term = term.strip()
            if (len(term) < 4 or term in _COMMON or term.startswith("__") or term in terms
                    or term in problem_statement or term in old_text):
                continue
            terms.append(term)
    return terms[:MAX_TERMS]


def _files(tree: Path):
    for path in sorted(tree.rglob("*")):
        rel = path.relative_to(tree)
        if any(part in _SKIP_DIRS for part in rel.parts[:-1]) or path.is_symlink() or not path.is_file():
            continue
        yield rel.as_posix(), path


def _pattern(terms: list[str]) -> re.Pattern[str] | None:
    if not terms:
        return None
    parts = [rf"(?<!\w){re.escape(t)}(?!\w)" for t in sorted(terms, key=len, reverse=True)]
    return re.compile("|".join(parts))


def scan_tree(tree: Path, terms: list[str]) -> dict[str, list[str]]:
    """term -> the first paths (relative) whose text contains it as a whole word."""
    pattern = _pattern(terms)
    found: dict[str, list[str]] = {}
    if pattern is None:
        return found
    for rel, path in _files(tree):
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # binary or unreadable: not text an agent greps
        for term in {m.group(0) for m in pattern.finditer(text)}:
            paths = found.setdefault(term, [])
            if len(paths) < SHOW:
                paths.append(rel)
    return dict(sorted(found.items()))


def _notes_kind(rel: str) -> str:
    """"file" (release notes of one version), "log" (a changelog of sections), "fragment", or ""."""
    parts = rel.split("/")
    name = parts[-1]
    if len(parts) > 1 and parts[-2].lower() == _FRAGMENTS_DIR and len(parts) <= 3 and name[:1].isdigit():
        return "fragment"
    if _RELEASE_FILE.match(name) and any(p.lower() in _NOTES_DIRS or "release" in p.lower() for p in parts[:-1]):
        return "file"
    if _CHANGELOG_NAME.match(name) and len(parts) <= 3:
        return "log"
    return ""


def _headings(lines: list[str]) -> list[tuple[int, tuple[int, int, int]]]:
    """(line index, version) of each section heading that names a version."""
    out = []
    for i, line in enumerate(lines):
        underlined = i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]) and line.strip()
        if not (underlined or _MD_HEADING.match(line)) or _UNDERLINE.match(line):
            continue
        m = _HEADING_VERSION.search(line)
        if m:
            out.append((i, _vkey(*m.groups())))
    return out


def strip_log(text: str, series: tuple[int, int, int]) -> tuple[str, list[str]]:
    """TEXT without its sections for SERIES and later versions; the versions removed."""
    lines = text.splitlines(keepends=True)
    heads = _headings(lines)
    removed: list[str] = []
    cut = [False] * len(lines)
    for n, (start, version) in enumerate(heads):
        end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        if version >= series:
            if ".".join(map(str, version)) not in removed:
                removed.append(".".join(map(str, version)))
            for i in range(start, end):
                cut[i] = True
    keep = [line for line, c in zip(lines, cut) if not c]
    return "".join(keep), removed


def strip_notes(tree: Path, version: str) -> list[str]:
    """Remove, in place, changelog and release-note entries of the task's version series and later;
    what was removed, one line per file."""
    series = series_key(version)
    if series is None:
        return []
    done: list[str] = []
    for rel, path in _files(tree):
        kind = _notes_kind(rel)
        if not kind:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if kind == "fragment":
            path.unlink()
            done.append(f"{rel} (unreleased entry)")
        elif kind == "file":
            m = _RELEASE_FILE.match(path.name)
            if m and _vkey(*m.groups()) >= series:
                path.write_text(STUB, encoding="utf-8")  # kept as a file: docs may link to it
                done.append(rel)
        else:
            stripped, versions = strip_log(text, series)
            if versions:
                path.write_text(stripped, encoding="utf-8")
                done.append(f"{rel}: {', '.join(versions)}")
    return done


def clean_tree(tree: Path, gold_patch: str, problem_statement: str, version: str) -> HintReport:
    """Scan the before-state TREE for hints of the fix, strip release notes, scan again."""
    report = HintReport(terms=fix_terms(gold_patch, problem_statement))
    report.found_before_strip = scan_tree(tree, report.terms)
    report.stripped = strip_notes(tree, version)
    report.found = scan_tree(tree, report.terms) if report.stripped else dict(report.found_before_strip)
    return report
