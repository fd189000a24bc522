"""Files that make a directory a git repository whose every configurable command writes a marker.

Shared by the archive, hostgit and evolve tests: each variant plants them somewhere, and the
tests assert that the marker directory stays empty (no command of theirs ever ran on the host).
"""

from __future__ import annotations

import os
from pathlib import Path

HOOKS = ("pre-commit", "post-checkout", "post-commit", "reference-transaction", "pre-auto-gc",
         "post-index-change", "post-rewrite", "pre-push", "fsmonitor-watchman")


def config_text(markers: Path) -> str:
    """A git config in which a filter, a textconv, an fsmonitor, a pager and hooks write markers."""
    m = str(markers)
    return (
        "[core]\n"
        "\trepositoryformatversion = 0\n"
        "\tbare = false\n"
        f"\tfsmonitor = \"touch {m}/fsmonitor; echo\"\n"
        "\thooksPath = hooks\n"
        f"\tpager = \"touch {m}/pager; cat\"\n"
        f"\tsshCommand = \"touch {m}/ssh\"\n"
        "[filter \"x\"]\n"
        f"\tclean = \"sh -c 'touch {m}/filter-clean; cat'\"\n"
        f"\tsmudge = \"sh -c 'touch {m}/filter-smudge; cat'\"\n"
        "\trequired = true\n"
        "[diff \"x\"]\n"
        f"\ttextconv = \"sh -c 'touch {m}/textconv; cat'\"\n"
        f"\tcommand = \"touch {m}/diff-command\"\n"
    )


def hook_text(markers: Path, name: str) -> str:
    return f"#!/bin/sh\ntouch {markers}/hook-{name}\n"


def files(markers: Path) -> dict[str, tuple[str, bool]]:
    """The planted files: relative path -> (content, executable)."""
    out = {
        "HEAD": ("ref: refs/heads/main\n", False),
        "config": (config_text(markers), False),
        "objects/info/packs": ("\n", False),
        "refs/heads/keep": ("\n", False),
        "info/attributes": ("* filter=x diff=x\n", False),
    }
    out.update({f"hooks/{h}": (hook_text(markers, h), True) for h in HOOKS})
    return out


def plant(root: Path, markers: Path, prefix: str = "") -> None:
    """Write the bare-repository files under ROOT/PREFIX."""
    for rel, (text, executable) in files(markers).items():
        path = root / prefix / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, 0o755 if executable else 0o644)


def shell_command(markers: Path, prefix: str = "") -> str:
    """A shell command that plants the same files (what a hostile agent runs in its sandbox)."""
    lines = []
    for rel, (text, executable) in files(markers).items():
        path = f"{prefix}{rel}"
        lines.append(f"mkdir -p \"$(dirname '{path}')\" && cat > '{path}' <<'DGM_EOF'\n{text}DGM_EOF")
        if executable:
            lines.append(f"chmod +x '{path}'")
    return "\n".join(lines) + "\n"


def ran(markers: Path) -> list[str]:
    """The markers written: every command of the planted config that ran."""
    return sorted(os.listdir(markers)) if markers.is_dir() else []
