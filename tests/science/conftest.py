"""Hand-made archives: real git and SQLite through the archive API, results written as the loop writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from dgm.archive import Archive

TASKS = ("a", "b", "c", "d")


def results(solved: str, tasks: tuple[str, ...] = TASKS, p: dict[str, float] | None = None) -> dict:
    out = {}
    for t in tasks:
        row = {"resolved": t in solved, "empty_patch": False, "stage": 1}
        if p and t in p:
            row["verification"] = {"p": p[t], "tokens_in": 100, "tokens_out": 10, "cost_usd": 0.0, "seconds": 0.1}
        out[t] = row
    return out


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    tree = tmp_path / "seed"
    tree.mkdir()
    (tree / "agent.py").write_text("print('hi')\n")
    return tree


@pytest.fixture
def make_archive(tmp_path: Path, seed: Path):
    """make_archive([(parent, status, results), ...]) with node 0's results first."""
    opened = []

    def make(root: dict, children: list[tuple[str, str, dict]]) -> Archive:
        archive = Archive.create(tmp_path / f"run{len(opened)}", seed)
        opened.append(archive)
        archive.update_node("0", results=root)
        for parent, status, res in children:
            archive.add_node(parent, seed, status=status, results=res)
        return archive

    yield make
    for a in opened:
        a.close()
