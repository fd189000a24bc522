"""What the engine hands an agent: a read-only copy of its tree and the task file."""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

import dgm

ABI = "dgm-agent-1"
ENTRY = "agent.py"
SEED_TREE = Path(dgm.__file__).resolve().parent.parent / "agents_archive" / "seed"
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".git")


def task_document(instance_id: str, problem_statement: str, *, max_steps: int, max_seconds: float,
                  max_usd: float | None) -> dict:
    """The /io/task.json an agent reads (ABI dgm-agent-1)."""
    return {"abi": ABI, "instance_id": instance_id, "problem_statement": problem_statement,
            "limits": {"max_steps": max_steps, "max_seconds": max_seconds, "max_usd": max_usd}}


def write_task_file(dest_dir: Path, document: dict) -> Path:
    path = Path(dest_dir) / "task.json"
    path.write_text(json.dumps(document, indent=1))
    path.chmod(0o644)
    return path


def stage_tree(agent_tree: Path, dest_dir: Path) -> Path:
    """A private copy of the agent tree that uid 1000 can read, without caches or .git."""
    src = Path(agent_tree)
    if not src.is_dir():
        from dgm.errors import BadInput

        raise BadInput(f"agent tree {src} is not a directory", hint="give the directory holding agent.py")
    dest = Path(dest_dir) / "agent"
    shutil.copytree(src, dest, symlinks=True, ignore=_SKIP)
    for root, _dirs, files in os.walk(dest):
        os.chmod(root, 0o755)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, 0o755 if mode & stat.S_IXUSR else 0o644)
    return dest


def scratch_dir() -> Path:
    """A private host directory for one run's staged inputs (readable by the sandbox user)."""
    path = Path(tempfile.mkdtemp(prefix="dgm-agent-"))
    path.chmod(0o755)
    return path
