"""Resolve and fetch binary wheels on the host for the Python inside an image (no network there)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from dgm.errors import BenchError
from dgm.home import dgm_home

PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_28_x86_64",
             "manylinux1_x86_64", "manylinux2010_x86_64", "linux_x86_64")

_WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)(-\d[^-]*)?-[^-]+-[^-]+-[^-]+\.whl$")


def wheel_pins(wheels_dir: Path) -> list[str]:
    """`name==version` for every wheel in the folder, sorted."""
    pins = set()
    for whl in wheels_dir.glob("*.whl"):
        m = _WHEEL_NAME.match(whl.name)
        if m:
            pins.add(f"{m['name'].replace('_', '-')}=={m['version']}")
    return sorted(pins, key=str.lower)


def fetch_resolved(requirements: list[str], constraints: list[str], python_version: str,
                   *, cache_root: Path | None = None) -> Path:
    """Resolve `requirements` under `constraints` for CPython `python_version` and download
    the closure as wheels into a folder keyed by those inputs (reused when already complete)."""
    key = hashlib.sha256(json.dumps([python_version, sorted(requirements), sorted(constraints),
                                     PLATFORMS]).encode()).hexdigest()[:16]
    root = cache_root or dgm_home() / "pypi" / "wheels"
    dest = root / f"py{python_version}-{key}"
    done = dest / ".complete.json"
    if done.exists():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"py{python_version}-", dir=root))
    try:
        cons = staging / "constraints.txt"
        cons.write_text("".join(c + "\n" for c in constraints))
        abi = "cp" + python_version.replace(".", "")
        cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
               "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
               "--abi", abi, "--abi", "abi3", "--abi", "none",
               *[arg for p in PLATFORMS for arg in ("--platform", p)],
               "-c", str(cons), "--dest", str(staging), *requirements]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode != 0:
            lines = [ln for ln in (res.stderr or res.stdout).splitlines() if ln.strip()]
            raise BenchError(f"dependencies do not resolve to wheels for Python {python_version}: "
                             f"{_pip_reason(lines)}")
        cons.unlink()
        (staging / ".complete.json").write_text(json.dumps(
            {"python": python_version, "requirements": requirements, "constraints": constraints,
             "wheels": wheel_pins(staging)}, indent=1))
        if dest.exists():  # another process finished first; theirs is as good as ours
            shutil.rmtree(staging)
        else:
            staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return dest


def _pip_reason(lines: list[str]) -> str:
    """The informative part of pip's failure: the conflict, or the missing distribution."""
    for i, ln in enumerate(lines):
        if "conflict is caused by" in ln:
            return "; ".join(x.strip() for x in lines[i + 1:i + 4] if not x.startswith("To fix"))
        if "No matching distribution" in ln or "Could not find a version" in ln:
            return ln.replace("ERROR: ", "").strip()
    errors = [ln for ln in lines if "ERROR" in ln]
    return (errors[0] if errors else lines[-1] if lines else "pip failed").strip()
