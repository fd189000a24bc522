"""Trees coming out of a sandbox: only regular files and directories, inside, capped."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from dgm.errors import AgentFailure
from dgm.sandbox.transfer import extract_untrusted, tar_tree


def _tar(members: list[tuple[tarfile.TarInfo, bytes]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    buf.seek(0)
    return buf


def _info(name: str, kind: bytes = tarfile.REGTYPE, target: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, target, mode
    return info


def test_hostile_members_are_refused(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    outside = tmp_path / "escaped"
    stream = _tar([
        (_info("./ok/file.txt"), b"fine"),
        (_info("./ok/run.sh", mode=0o4755), b"#!/bin/sh\n"),
        (_info("../escaped"), b"x"),
        (_info("/abs/escaped"), b"x"),
        (_info("ok/../../escaped"), b"x"),
        (_info("link", tarfile.SYMTYPE, "/etc/passwd"), b""),
        (_info("hard", tarfile.LNKTYPE, "ok/file.txt"), b""),
        (_info("dev", tarfile.CHRTYPE), b""),
        (_info("fifo", tarfile.FIFOTYPE), b""),
    ])
    refused = extract_untrusted(stream, dest, max_bytes=1000)
    assert (dest / "ok" / "file.txt").read_bytes() == b"fine"
    assert oct((dest / "ok" / "run.sh").stat().st_mode & 0o7777) == oct(0o755)  # no setuid
    assert not outside.exists()
    assert sorted(p.name for p in dest.iterdir()) == ["ok"]
    assert set(refused) == {"../escaped", "/abs/escaped", "ok/../../escaped", "link", "hard", "dev", "fifo"}


def test_size_cap(tmp_path: Path) -> None:
    stream = _tar([(_info("a"), b"x" * 600), (_info("b"), b"y" * 600)])
    with pytest.raises(AgentFailure, match="exceeds 1000 bytes"):
        extract_untrusted(stream, tmp_path / "out", max_bytes=1000)


def test_existing_link_in_destination_is_not_followed(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(target, dest / "d")
    with pytest.raises(AgentFailure, match="link"):
        extract_untrusted(_tar([(_info("d/f"), b"x")]), dest, max_bytes=1000)
    assert not (target / "f").exists()


def test_tar_tree_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "m.py").write_text("print(1)\n")
    dest = tmp_path / "dest"
    extract_untrusted(io.BytesIO(tar_tree(src)), dest, max_bytes=10_000)
    assert (dest / "pkg" / "m.py").read_text() == "print(1)\n"


@pytest.mark.docker
def test_get_file_reads_regular_files_only_and_never_stalls(base_image: str, run_id: str) -> None:
    """Links (to /dev/zero, to a file), FIFOs, directories and oversized files are refused before a byte
    is read; the test's own deadline stands in for "never stalls" (the old `cat` waited 300 s per file)."""
    import threading

    from dgm.sandbox.driver import Limits, Sandbox

    setup = ("cd /io/out && printf '{}' > good.json && ln -s /dev/zero zero.json && ln -s good.json link.json "
             "&& mkfifo fifo.json && mkdir dir.json && head -c 5000 /dev/zero > big.json "
             "&& ln -s /dev/urandom device.json && ln -s /nowhere dangling.json")
    expected = {"zero.json": "a symbolic link", "link.json": "a symbolic link", "fifo.json": "a FIFO",
                "dir.json": "a directory", "big.json": "larger than 4096 bytes", "device.json": "a symbolic link",
                "dangling.json": "a symbolic link"}
    with Sandbox.start(base_image, run_id=run_id, limits=Limits(wall_seconds=240)) as box:
        assert box.exec(setup).ok
        assert box.get_file("/io/out/good.json", max_bytes=4096) == b"{}"
        with pytest.raises(FileNotFoundError):
            box.get_file("/io/out/missing.json", max_bytes=4096)
        got: dict[str, str] = {}

        def read_all() -> None:
            for name in expected:
                try:
                    box.get_file(f"/io/out/{name}", max_bytes=4096)
                    got[name] = "read"
                except (AgentFailure, FileNotFoundError) as exc:
                    got[name] = str(exc)

        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
        reader.join(120)
        assert not reader.is_alive(), f"reading stalled; done so far: {got}"
        for name, kind in expected.items():
            assert kind in got[name] and isinstance(got[name], str), (name, got[name])
