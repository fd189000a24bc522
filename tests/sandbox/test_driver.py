"""The Sandbox driver against the real engine: commands, files, diffs, mounts, clean-up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dgm.errors import SandboxError
from dgm.sandbox.driver import Limits, Mount, Sandbox, sweep
from dgm.sandbox.engine import docker_client
from dgm.sandbox.images import ensure_image

pytestmark = pytest.mark.docker


def _containers(run_id: str) -> list[dict]:
    return docker_client().api.containers(all=True, filters={"label": f"dgm.run={run_id}"})


def test_exec_basics_and_hardening(base_image: str, run_id: str) -> None:
    with Sandbox.start(base_image, run_id=run_id, env={"GIVEN": "yes"}) as box:
        res = box.exec("id -u; pwd; echo $GIVEN $EXTRA; echo err >&2; exit 3", env={"EXTRA": "too"})
        assert res.exit_code == 3 and not res.ok and res.status() == "exit 3"
        # stdout and stderr are separate pipes: both are captured, their interleaving is not fixed
        words = res.output.split()
        assert [w for w in words if w != "err"] == ["1000", "/testbed", "yes", "too"] and words.count("err") == 1
        assert box.exec(["python3", "-c", "import sys; print(sys.version_info[:2])"]).output.strip() == "(3, 11)"
        # The hardening the defaults promise, as the kernel reports it.
        status = box.exec("grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status").output.split()
        assert status == ["CapEff:", "0000000000000000", "CapBnd:", "0000000000000000", "NoNewPrivs:", "1"]
        assert box.exec("touch /etc/x").exit_code != 0
        for d in ("/testbed", "/tmp", "/home/agent", "/io", "/io/out"):
            assert box.exec(f"touch {d}/w").ok, d
        inspect = docker_client().api.inspect_container(box.id)
        host = inspect["HostConfig"]
        assert host["NetworkMode"] == "none" and host["ReadonlyRootfs"] is True
        assert host["Memory"] == 2048 * 2**20 == host["MemorySwap"] and host["PidsLimit"] == 512
        labels = inspect["Config"]["Labels"]
        assert labels["dgm"] == "1" and labels["dgm.run"] == run_id and labels["dgm.pid"] == str(os.getpid())
    assert _containers(run_id) == []


def test_files_in_and_out(base_image: str, run_id: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg" / "m.py").write_text("print('from tree')\n")
    with Sandbox.start(base_image, run_id=run_id) as box:
        box.put_file("/io/task.json", b'{"abi": "dgm-agent-1"}')
        box.put_file("/testbed/run.sh", b"#!/bin/sh\necho ran\n", mode=0o755)
        box.put_tree(src, "/testbed/deep/copy")
        assert box.exec("./run.sh && python3 deep/copy/pkg/m.py && stat -c %U /io/task.json").output.split() == [
            "ran", "from", "tree", "agent"]
        assert box.get_file("/io/task.json") == b'{"abi": "dgm-agent-1"}'
        with pytest.raises(FileNotFoundError):
            box.get_file("/io/missing")
        box.exec("mkdir -p /io/out/sub && echo t > /io/out/sub/trajectory.json && ln -s /etc/passwd /io/out/pw")
        out = tmp_path / "out"
        box.get_tree("/io/out", out)
        assert (out / "sub" / "trajectory.json").read_text() == "t\n"
        assert not (out / "pw").exists() and not (out / "pw").is_symlink()


def test_git_diff_includes_untracked_deleted_and_binary(base_image: str, run_id: str) -> None:
    with Sandbox.start(base_image, run_id=run_id) as box:
        setup = box.exec(
            "git init -q . && printf 'a\\n' > keep.txt && printf 'x\\n' > gone.txt && "
            "git add -A && git commit -qm base && git rev-parse HEAD"
        )
        assert setup.ok, setup
        base = setup.output.strip()
        box.exec("printf 'b\\n' >> keep.txt && rm gone.txt && echo new > new.txt && "
                 "printf '\\000\\001' > blob.bin && git commit -qam later")
        diff = box.git_diff(base=base)
        assert "+b" in diff and "deleted file mode" in diff and "new file mode" in diff
        assert "GIT binary patch" in diff
        # The repository's own index and history are untouched by computing the diff.
        assert box.exec("git status --porcelain").output.split() == ["??", "blob.bin", "??", "new.txt"]
        # The diff applies to the base state.
        box.exec(f"git stash -u -q; git checkout -q {base}")
        box.put_file("/tmp/p.diff", diff.encode())
        assert box.exec("git apply /tmp/p.diff && cat new.txt keep.txt").output.split() == ["new", "a", "b"]


def test_seed_repository_is_copied_into_testbed(base_image: str, run_id: str) -> None:
    dockerfile = (
        "FROM {base}\nCOPY repo /opt/dgm/seed/testbed\n"
        "RUN cd /opt/dgm/seed/testbed && git init -q && git add -A && git commit -qm seed\n"
    )
    image = ensure_image("dgm-test-seeded", None, dockerfile, base=base_image,
                         files={"repo/hello.py": "print('seeded')\n"})
    assert ensure_image("dgm-test-seeded", None, dockerfile, base=base_image,
                        files={"repo/hello.py": "print('seeded')\n"}) == image
    for _ in range(2):  # each sandbox starts from the image's state, not the last one's
        with Sandbox.start(image, run_id=run_id) as box:
            res = box.exec("python3 hello.py && git log --format=%s && stat -c %U hello.py && echo dirty > hello.py")
            assert res.output.split() == ["seeded", "seed", "agent"], res


def test_relay_socket_is_reachable_read_only(base_image: str, run_id: str, tmp_path: Path) -> None:
    relay = tmp_path / "relay"
    relay.mkdir(mode=0o755)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(relay / "relay.sock"))
    os.chmod(relay / "relay.sock", 0o666)
    server.listen(1)

    def answer() -> None:
        conn, _ = server.accept()
        conn.sendall(b"pong")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    with Sandbox.start(base_image, run_id=run_id, relay_dir=relay) as box:
        res = box.exec(
            "python3 -c \"import os,socket; s=socket.socket(socket.AF_UNIX); "
            "s.connect(os.environ['DGM_RELAY_SOCKET']); print(s.recv(9).decode())\"; touch /run/dgm/x"
        )
        assert res.output.splitlines()[0] == "pong"
        assert "Read-only file system" in res.output
    server.close()
    assert sorted(p.name for p in relay.iterdir()) == ["relay.sock"]


def test_wall_clock_ends_the_sandbox(base_image: str, run_id: str) -> None:
    box = Sandbox.start(base_image, run_id=run_id, limits=Limits(wall_seconds=3))
    res = box.exec("sleep 30", timeout=30)
    assert res.timed_out  # capped by the remaining lifetime
    deadline = time.monotonic() + 30
    while _containers(run_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _containers(run_id) == []  # the forgotten container removed itself
    with pytest.raises(SandboxError, match="not running"):
        box.exec("true")
    box.stop()


def test_sweep_by_run_and_by_dead_process(base_image: str, run_id: str) -> None:
    code = (
        "import os, sys\n"
        "from dgm.sandbox.driver import Sandbox\n"
        f"box = Sandbox.start({base_image!r}, run_id={run_id!r})\n"
        "print(box.id, flush=True)\n"
        "os._exit(0)  # dies without cleaning up, like a crashed engine\n"
    )
    orphan = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert {c["Id"] for c in _containers(run_id)} == {orphan}
    live = Sandbox.start(base_image, run_id=run_id)  # a process's first start also sweeps
    try:
        # The dead process's container goes, never the live one. (Any dgm process on this
        # host may sweep the orphan first, so a count would not be the test.)
        sweep(None)
        assert {c["Id"] for c in _containers(run_id)} == {live.id}
        assert live.exec("true").ok
        assert sweep(run_id) == 1
        assert _containers(run_id) == []
    finally:
        live.stop()
