"""Hostile commands in real sandboxes: each is stopped or contained, reported clearly,
leaves the host as it was, and the next sandbox still works."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from dgm.sandbox.driver import Limits, Mount, Sandbox
from dgm.sandbox.engine import docker_client
from dgm.sandbox.guarantees import weakened
from dgm.sandbox.mirror import debian_mirror

from .conftest import assert_next_sandbox_works

pytestmark = [pytest.mark.docker, pytest.mark.usefixtures("backend")]


def _agent_processes(box: Sandbox) -> list[str]:
    """Command lines of uid-1000 processes other than the `ps` asking and PID 1 (under rootless
    Podman and bubblewrap the sandbox's keeper is uid 1000 too, and out of the agent's reach)."""
    out = box.exec(["ps", "-u", "1000", "-o", "pid=,args="], timeout=30).output.splitlines()
    procs = [ln.strip().split(None, 1) for ln in out]
    return [p[1] for p in procs if p[0] != "1" and not p[1].startswith(("ps ", "sh -c"))]


def test_fork_bomb_hits_pids_limit_and_is_killed(base_image: str, run_id: str, small: Limits) -> None:
    with Sandbox.start(base_image, run_id=run_id, limits=small) as box:
        res = box.exec(":(){ :|:& };: ; sleep 600", timeout=5)
        assert res.timed_out and not res.ok and res.status() == "timed out"
        assert "Resource temporarily unavailable" in res.output  # the pids limit held it
        assert _agent_processes(box) == []
        assert box.exec("echo recovered").output == "recovered\n"
    assert_next_sandbox_works(base_image, run_id)


def test_memory_hog_is_oom_killed(base_image: str, run_id: str, small: Limits, backend: str) -> None:
    weak = weakened(backend).get("memory limit", "")
    with Sandbox.start(base_image, run_id=run_id, limits=small) as box:
        res = box.exec("python3 -c 'x = bytearray(1 << 30); print(len(x))'", timeout=60)
        if not weak:
            assert res.oom_killed and res.exit_code == 137 and res.status() == "killed: out of memory"
        elif weak.startswith("per process"):  # what `dgm doctor` and docs/sandbox.md say of bwrap
            assert not res.ok and not res.oom_killed and "MemoryError" in res.output
        else:  # not held (rootless Podman without cgroup delegation): the statement stands
            assert weak.startswith("not held") and res.ok and res.output.strip() == str(1 << 30)
        assert box.exec("echo alive").ok  # only the hog died
        killed = box.exec("kill -KILL $$")  # exit 137 too, but not for memory
        assert killed.exit_code == 137 and not killed.oom_killed and killed.status() == "exit 137"
    assert_next_sandbox_works(base_image, run_id)


def test_disk_filler_stops_at_the_tmpfs_cap(base_image: str, run_id: str, small: Limits) -> None:
    with Sandbox.start(base_image, run_id=run_id, limits=small) as box:
        for where in ("/testbed", "/tmp", "/home/agent", "/io/out", "/dev/shm"):
            res = box.exec(f"dd if=/dev/zero of={where}/fill bs=1M count=1000", timeout=60)
            assert res.exit_code != 0 and "No space left on device" in res.output, (where, res)
            used = int(box.exec(f"du -sm {where}/fill | cut -f1").output)
            assert used <= small.disk_mb, where
            box.exec(f"rm -f {where}/fill")
        assert box.exec("echo after > /testbed/small && cat /testbed/small").output == "after\n"
    assert_next_sandbox_works(base_image, run_id)


def test_infinite_loop_times_out(base_image: str, run_id: str, small: Limits) -> None:
    with Sandbox.start(base_image, run_id=run_id, limits=small) as box:
        res = box.exec(["python3", "-c", "while True: pass"], timeout=2)
        assert res.timed_out and res.exit_code in (137, None)
        assert _agent_processes(box) == []
    assert_next_sandbox_works(base_image, run_id)


def test_hundred_megabytes_of_output_are_capped(base_image: str, run_id: str, small: Limits) -> None:
    with Sandbox.start(base_image, run_id=run_id, limits=small) as box:
        res = box.exec("head -c 100000000 /dev/zero | tr '\\0' a; echo done >&2", timeout=120)
        assert res.exit_code == 0 and res.truncated
        assert res.output == "a" * small.output_bytes
        small_res = box.exec("echo short")
        assert small_res.output == "short\n" and not small_res.truncated
    assert_next_sandbox_works(base_image, run_id)


def test_network_to_internet_and_host_loopback_fails(base_image: str, run_id: str) -> None:
    mirror_host = urlparse(debian_mirror()).hostname or "localhost"
    mirror_ip = socket.gethostbyname(mirror_host)  # resolved on the host, which has network
    ipam = docker_client().api.inspect_network("bridge")["IPAM"]["Config"][0]
    # The engine's bridge address: the host as ordinary containers see it.
    gateway = ipam.get("Gateway") or str(ipaddress.ip_network(ipam["Subnet"])[1])
    contacted: list[object] = []
    server = socket.socket()
    server.bind(("0.0.0.0", 0))
    server.listen(5)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                contacted.append(server.accept())
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    probe = (
        "import socket, sys\n"
        "for host, port in [(sys.argv[1], 80), (sys.argv[2], 80), ('127.0.0.1', int(sys.argv[4])),"
        " (sys.argv[3], int(sys.argv[4])), (sys.argv[3], 2375)]:\n"
        "    try:\n"
        "        socket.create_connection((host, port), timeout=3); print('CONNECTED', host, port)\n"
        "    except OSError as e:\n"
        "        print('blocked', host, port, type(e).__name__)\n"
        "print(open('/proc/net/dev').read().split('\\n')[2:])\n"
    )
    try:
        with Sandbox.start(base_image, run_id=run_id) as box:
            res = box.exec(["python3", "-c", probe, mirror_host, mirror_ip, gateway, str(port)], timeout=60)
    finally:
        stop.set()
    assert "CONNECTED" not in res.output, res.output
    assert res.output.count("blocked") == 5
    assert "['    lo:" in res.output and "eth0" not in res.output  # loopback is the only interface
    assert contacted == []
    server.close()
    assert_next_sandbox_works(base_image, run_id)


def test_host_environment_and_home_secrets_are_invisible(
    base_image: str, run_id: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = "sk-dgm-fake-secret-0123456789"
    monkeypatch.setenv("DGM_FAKE_API_KEY", secret)
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    host_file = tmp_path / "credentials"
    host_file.write_text(secret)
    home = Path.home()
    with Sandbox.start(base_image, run_id=run_id) as box:
        res = box.exec(
            f"env; cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n'; ls -a {home} /root 2>&1; "
            f"cat {host_file} 2>&1; grep -rs {secret} /home /root /etc /io /testbed /tmp; echo END",
            timeout=60,
        )
    assert res.output.endswith("END\n")
    assert secret not in res.output
    assert "OPENAI_API_KEY" not in res.output and "DGM_FAKE_API_KEY" not in res.output
    assert "No such file or directory" in res.output  # the host file is not there
    assert host_file.read_text() == secret
    assert_next_sandbox_works(base_image, run_id)


def test_writing_outside_the_work_directory_fails(base_image: str, run_id: str, tmp_path: Path) -> None:
    marker = tmp_path / "host-marker"
    with Sandbox.start(base_image, run_id=run_id) as box:
        for target in ("/etc/passwd", "/usr/bin/python3", "/x", "/var/tmp/x", "/opt/dgm/x", "/dev/x", "/run/x",
                       str(marker)):
            res = box.exec(f"echo pwned >> {target}")
            assert res.exit_code != 0, target
            assert "Read-only file system" in res.output or "No such file" in res.output or "Permission denied" in res.output
        assert box.exec("echo fine > /testbed/ok && cat /testbed/ok").output == "fine\n"
    assert not marker.exists()
    assert_next_sandbox_works(base_image, run_id)


def test_docker_socket_is_unreachable(base_image: str, run_id: str) -> None:
    probe = (
        "import os, socket\n"
        "for path in ['/var/run/docker.sock', '/run/docker.sock', '/run/containerd/containerd.sock']:\n"
        "    s = socket.socket(socket.AF_UNIX)\n"
        "    try:\n"
        "        s.connect(path); print('CONNECTED', path)\n"
        "    except OSError as e:\n"
        "        print('blocked', path, type(e).__name__)\n"
    )
    with Sandbox.start(base_image, run_id=run_id) as box:
        res = box.exec(["python3", "-c", probe])
        assert res.output.count("blocked") == 3 and "CONNECTED" not in res.output
        mounts = box.exec("cat /proc/mounts").output
        assert "docker.sock" not in mounts
    assert_next_sandbox_works(base_image, run_id)


def test_read_only_agent_code_cannot_change(base_image: str, run_id: str, tmp_path: Path) -> None:
    # Under /tmp like the runner's scratch directories: rootless Podman mounts as its own account.
    agent = Path(tempfile.mkdtemp(prefix="dgm-test-agent-"))
    agent.chmod(0o755)
    (agent / "agent.py").write_text("print('original')\n")
    # World-writable on the host, so only the read-only mount stands in the way.
    (agent / "agent.py").chmod(0o666)
    agent.chmod(0o777)
    before = (agent / "agent.py").stat()
    with Sandbox.start(base_image, run_id=run_id, mounts=[Mount(agent, "/agent")]) as box:
        assert box.exec("python3 /agent/agent.py").output == "original\n"
        for attack in ("echo evil >> /agent/agent.py", "rm -f /agent/agent.py", "touch /agent/new",
                       "chmod 777 /agent/agent.py", "mv /agent/agent.py /agent/x.py"):
            res = box.exec(attack)
            assert res.exit_code != 0 and "Read-only file system" in res.output, (attack, res)
    after = (agent / "agent.py").stat()
    assert (agent / "agent.py").read_text() == "print('original')\n"
    assert (before.st_mtime_ns, before.st_mode) == (after.st_mtime_ns, after.st_mode)
    assert sorted(p.name for p in agent.iterdir()) == ["agent.py"]
    shutil.rmtree(agent)
    assert_next_sandbox_works(base_image, run_id)


def test_mounts_where_the_image_has_no_directory_are_read_only_too(base_image: str, run_id: str) -> None:
    """A mount point the image lacks (bubblewrap then binds the image entry by entry instead of
    its root at once) is made, and read-only like every other."""
    data = Path(tempfile.mkdtemp(prefix="dgm-test-data-"))
    data.chmod(0o777)
    (data / "x.txt").write_text("x\n")
    with Sandbox.start(base_image, run_id=run_id, mounts=[Mount(data, "/data"), Mount(data, "/agent")]) as box:
        assert box.exec("cat /data/x.txt /agent/x.txt").output == "x\nx\n"
        res = box.exec("touch /data/new; touch /new; touch /usr/new")
        assert res.exit_code != 0 and res.output.count("Read-only file system") == 3, res
    assert sorted(p.name for p in data.iterdir()) == ["x.txt"]
    shutil.rmtree(data)


def test_sigterm_ignoring_process_is_killed_at_timeout(base_image: str, run_id: str, small: Limits) -> None:
    stubborn = (
        "import os, signal, subprocess, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen(['sh', '-c', 'trap \"\" TERM; exec sleep 900'], start_new_session=True)\n"
        "print('ignoring TERM', flush=True)\n"
        "while True: time.sleep(1)\n"
    )
    with Sandbox.start(base_image, run_id=run_id, limits=small) as box:
        res = box.exec(["python3", "-c", stubborn], timeout=3)
        assert res.timed_out and res.output == "ignoring TERM\n"
        assert _agent_processes(box) == []  # also the child in its own session
    assert_next_sandbox_works(base_image, run_id)


def test_background_processes_die_with_their_command(base_image: str, run_id: str) -> None:
    with Sandbox.start(base_image, run_id=run_id) as box:
        res = box.exec("nohup sleep 900 >/dev/null 2>&1 & setsid sleep 901 & echo started")
        assert res.ok and res.output == "started\n"
        assert _agent_processes(box) == []
        # Dead when the command ends, not only when the next one starts: it never writes.
        res = box.exec("(sleep 0.5; echo survived > /tmp/marker) >/dev/null 2>&1 & echo started")
        assert res.output == "started\n"
        time.sleep(3)
        assert box.exec("cat /tmp/marker 2>/dev/null || echo none").output == "none\n"
