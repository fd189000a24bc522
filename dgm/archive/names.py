"""Names an agent tree may not hold (agents_archive/README.md, "Names an agent tree may not hold").

Each one makes a directory holding it read, by a tool on the host, as something other than
plain files: a repository to discover (`.git` as a directory or as a `gitdir:` file; `HEAD`,
which with any `objects/` and `refs/` makes its directory a bare repository, `commondir`
included), attributes or submodules git reads from a work tree, another version-control
system's metadata with its own hooks. A git prompt in a user's shell runs git in whatever
directory the user enters, so refusing the names protects exported trees too.
"""

from __future__ import annotations

import re

# Canonical (lower-case) names. `git~1` is the NTFS short name git itself refuses for `.git`.
FORBIDDEN = frozenset({
    ".git", "git~1", "head", ".gitattributes", ".gitmodules",
    ".hg", ".svn", ".bzr", "_darcs",
})
# Code points HFS+ ignores when it compares names: ".g\u200cit" opens ".git" there.
_IGNORABLE = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def canonical(name: str) -> str:
    """The name as a case-insensitive, HFS+ or NTFS file system would resolve it."""
    folded = _IGNORABLE.sub("", name).casefold()
    folded = folded.split(":", 1)[0]  # NTFS: ".git::$INDEX_ALLOCATION" is the directory .git
    return folded.rstrip(". ") or folded  # NTFS drops trailing dots and spaces


def forbidden_name(name: str) -> str | None:
    """The forbidden name NAME stands for (".git", "HEAD", ...), or None if it is allowed."""
    key = canonical(name)
    if key not in FORBIDDEN:
        return None
    return {"head": "HEAD", "git~1": ".git"}.get(key, key)


def forbidden_in_path(path: str) -> str | None:
    """The first forbidden name among the components of the relative PATH ("a/b/c")."""
    for part in path.split("/"):
        found = forbidden_name(part)
        if found:
            return found
    return None
