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
    key = hashlib.sha256(json.dumps(["closure-3", python_version, sorted(requirements), sorted(constraints),
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
        wanted = list(requirements)
        build_missing_wheels(constraints, staging)
        # pip evaluates environment markers for the host's Python, not the target's, so
        # `tomli; python_version < "3.11"` is skipped: add what the target needs, until closed.
        for _round in range(6):
            _pip_download(wanted, cons, staging, python_version)
            wanted = missing_requirements(staging, python_version)
            if not wanted:
                break
        else:
            raise BenchError(f"dependencies for Python {python_version} do not close: {wanted}")
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


def _pip_download(requirements: list[str], constraints: Path, dest: Path, python_version: str) -> None:
    abi = "cp" + python_version.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
           "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
           "--abi", abi, "--abi", "abi3", "--abi", "none",
           *[arg for p in PLATFORMS for arg in ("--platform", p)],
           "-c", str(constraints), "--find-links", str(dest), "--dest", str(dest), *requirements]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        lines = [ln for ln in (res.stdout + "\n" + res.stderr).splitlines() if ln.strip()]
        raise BenchError(f"dependencies do not resolve to wheels for Python {python_version}: "
                         f"{_pip_reason(lines)}")


def build_missing_wheels(pins: list[str], dest: Path) -> list[str]:
    """Wheels built on the host for pinned packages the index has only as source (e.g.
    atomicwrites 1.4.1). Only pure-Python results (`-none-any`) are kept: nothing compiled
    on the host goes into an image."""
    from dgm.bench.pypi.releases import release_files

    built = []
    for pin in pins:
        name, sep, version = pin.partition("==")
        if not sep:
            continue
        try:
            files = [f.filename for f in release_files(name)]
        except BenchError:
            continue
        tagged = [f for f in files if f"-{version}-" in f.replace("_", "-") or f"-{version}." in f]
        if not tagged or any(f.endswith(".whl") for f in tagged):
            continue
        out = Path(tempfile.mkdtemp(prefix="wheel-", dir=dest))
        res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check",
                              "--no-deps", "--no-binary", ":all:", "-w", str(out), pin],
                             capture_output=True, text=True, check=False)
        for whl in out.glob("*.whl"):
            if res.returncode == 0 and whl.name.endswith("-none-any.whl"):
                whl.rename(dest / whl.name)
                built.append(whl.name)
        shutil.rmtree(out, ignore_errors=True)
    return built


def target_environment(python_version: str) -> dict[str, str]:
    """PEP 508 marker values of CPython `python_version` on Linux x86_64."""
    return {"python_version": python_version, "python_full_version": python_version + ".0",
            "implementation_name": "cpython", "platform_python_implementation": "CPython",
            "implementation_version": python_version + ".0", "os_name": "posix",
            "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
            "platform_release": "", "platform_version": "", "extra": ""}


def missing_requirements(wheels_dir: Path, python_version: str) -> list[str]:
    """Requirements (markers evaluated for the target Python) that no wheel in the folder meets."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    have: dict[str, str] = {}
    for pin in wheel_pins(wheels_dir):
        name, _, version = pin.partition("==")
        have[canonicalize_name(name)] = version
    env = target_environment(python_version)
    missing: dict[str, str] = {}
    for whl in sorted(wheels_dir.glob("*.whl")):
        for line in _requires_dist(whl):
            try:
                req = Requirement(line)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            name = canonicalize_name(req.name)
            if name not in have:
                missing.setdefault(name, str(req).split(";")[0].strip())
    return sorted(missing.values())


def _requires_dist(wheel: Path) -> list[str]:
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        meta = next((n for n in zf.namelist() if n.endswith(".dist-info/METADATA")), None)
        if meta is None:
            return []
        text = zf.read(meta).decode("utf-8", "replace")
    head = text.split("\n\n", 1)[0]
    return [ln.split(":", 1)[1].strip() for ln in head.splitlines() if ln.startswith("Requires-Dist:")]


def _pip_reason(lines: list[str]) -> str:
    """The informative part of pip's failure: the conflict, or the missing distribution."""
    for i, ln in enumerate(lines):
        if "conflict is caused by" in ln:
            return "; ".join(x.strip() for x in lines[i + 1:i + 4] if not x.startswith("To fix"))
        if "No matching distribution" in ln or "Could not find a version" in ln:
            return ln.replace("ERROR: ", "").strip()
    errors = [ln for ln in lines if "ERROR" in ln]
    return (errors[0] if errors else lines[-1] if lines else "pip failed").strip()
