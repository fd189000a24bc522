"""Fixtures for archive tests: agent trees built in tmp dirs and fresh archives."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest

from dgm.archive import Archive


def write_agent(root: Path, version: int = 0) -> Path:
    """A small agent tree: an executable entry point, a package, a symlink inside the tree."""
    (root / "tools").mkdir(parents=True, exist_ok=True)
    (root / "agent.py").write_text(f"#!/usr/bin/env python3\nVERSION = {version}\nprint(VERSION)\n")
    os.chmod(root / "agent.py", 0o755)
    (root / "tools" / "edit.py").write_text("def edit(path, text):\n    return text\n")
    (root / "README.md").write_text("seed agent\n")
    if not (root / "docs").is_symlink():
        os.symlink("README.md", root / "docs")
    return root


@pytest.fixture
def make_tree(tmp_path: Path) -> Callable[..., Path]:
    counter = {"n": 0}

    def make(version: int = 0, name: str | None = None) -> Path:
        counter["n"] += 1
        return write_agent(tmp_path / (name or f"tree{counter['n']}"), version)

    return make


@pytest.fixture
def archive(tmp_path: Path, make_tree) -> Archive:
    arch = Archive.create(tmp_path / "run", make_tree(0, "seed"))
    yield arch
    arch.close()
