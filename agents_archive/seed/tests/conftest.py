"""Fixtures: the scripted fake relay and a tiny git repository with a bug."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any, List

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [p for p in (ROOT, os.path.dirname(os.path.abspath(__file__))) if p not in sys.path]

from fake_relay import FakeRelay  # noqa: E402

BUGGY = "def add(a, b):\n    return a - b\n"
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


@pytest.fixture
def relay_factory():
    made = []

    def make(script: List[Any], **kw: Any) -> FakeRelay:
        made.append(FakeRelay(script, **kw))
        return made[-1]

    yield make
    for relay in made:
        relay.close()


@pytest.fixture
def repo(tmp_path) -> str:
    """A git repository with a bug (add subtracts) and a test that shows it."""
    path = tmp_path / "repo"
    path.mkdir()
    (path / "calc.py").write_text(BUGGY)
    (path / "test_calc.py").write_text(TEST)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(path)]
    subprocess.run(git[:5] + ["init", "-q", str(path)], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "base"], check=True)
    return str(path)
