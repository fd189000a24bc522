"""A Debian root filesystem made with debootstrap from the configured mirror, as a tarball."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

from dgm.errors import ImageBuildError
from dgm.sandbox.mirror import debian_mirror

Progress = Callable[[str], None]

# Noisy per-package debootstrap lines; we count them instead of printing each.
_PER_PACKAGE = ("I: Retrieving", "I: Validating", "I: Extracting", "I: Unpacking", "I: Configuring")


def build_rootfs_tar(suite: str, packages: Sequence[str], dest: Path, progress: Progress) -> Path:
    """debootstrap SUITE with PACKAGES and write the tree as an uncompressed tar at DEST."""
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise ImageBuildError(
            "debootstrap is not installed", hint="apt-get install debootstrap (then `dgm sandbox build`)"
        )
    if os.geteuid() != 0:
        raise ImageBuildError(
            "building the base image needs root (debootstrap creates device nodes and chowns)",
            hint="run `sudo dgm sandbox build` once; later runs reuse the image",
        )
    mirror = debian_mirror()
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"rootfs-{suite}-", dir=dest.parent))
    tree = work / "tree"
    cmd = [
        debootstrap, "--variant=minbase", f"--include={','.join(packages)}",
        suite, str(tree), mirror,
    ]
    progress(f"debootstrap {suite} from {mirror} ({len(packages)} extra packages; about a minute)")
    started = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        tail: list[str] = []
        counted = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail = (tail + [line])[-30:]
            if line.startswith(_PER_PACKAGE):
                counted += 1
                if counted % 100 == 0:
                    progress(f"  ... {counted} package steps ({time.monotonic() - started:.0f} s)")
            elif line.startswith(("I: ", "W: ", "E: ")):
                progress("  " + line)
        if proc.wait() != 0:
            raise ImageBuildError(
                f"debootstrap {suite} failed (exit {proc.returncode}):\n" + "\n".join(tail),
                hint=f"check the mirror {mirror} and that suite {suite!r} exists there",
            )
        progress(f"packing root filesystem ({time.monotonic() - started:.0f} s so far)")
        partial = dest.with_suffix(".partial")
        # Device nodes, kernel filesystems and apt caches do not belong in an image:
        # the engine provides /dev, /proc and /sys at run time.
        tar = [
            "tar", "-C", str(tree), "--numeric-owner", "--xattrs",
            "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
            "--exclude=./var/cache/apt/archives/*.deb", "--exclude=./var/lib/apt/lists/*",
            "-cf", str(partial), ".",
        ]
        res = subprocess.run(tar, capture_output=True, text=True)
        if res.returncode != 0:
            raise ImageBuildError(f"packing the root filesystem failed: {res.stderr.strip()[-2000:]}")
        partial.replace(dest)
        progress(f"root filesystem ready: {dest.stat().st_size // 2**20} MiB in {time.monotonic() - started:.0f} s")
        return dest
    finally:
        # debootstrap leaves device nodes and root-owned files; only root can remove them.
        shutil.rmtree(work, ignore_errors=True)
