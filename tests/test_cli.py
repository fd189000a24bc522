"""The top-level `dgm` command: every room registered, errors as one line, tracebacks only on --debug."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def dgm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dgm", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_command():
    out = dgm("--help")
    assert out.returncode == 0
    for command in ("archive", "sandbox", "doctor", "agent", "bench", "evolve", "report", "replay"):
        assert f"    {command}" in out.stdout, command


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path):
    missing = tmp_path / "no-such-archive"
    out = dgm("archive", "list", str(missing))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dgm: error:") and str(missing) in lines[0]
    assert "Traceback" not in out.stderr


def test_debug_shows_the_traceback(tmp_path: Path):
    out = dgm("--debug", "archive", "list", str(tmp_path / "no-such-archive"))
    assert out.returncode == 2
    assert "Traceback" in out.stderr and out.stderr.rstrip().splitlines()[-1].startswith("dgm: error:")
