"""Every backend this machine has: the confinement each holds, the agent runner on each, what
`dgm doctor` and docs/sandbox.md say each holds less strictly, and choosing a backend that is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from dgm.sandbox.backends import BACKENDS, missing
from dgm.sandbox.cgroups import SandboxCgroup, cgroup_parent, sweep
from dgm.sandbox.driver import Limits, Sandbox
from dgm.sandbox.guarantees import weakened

from .conftest import assert_next_sandbox_works

pytestmark = pytest.mark.docker

DOCS = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"

CONFINEMENT = (
    "id -u; hostname; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; "
    "unshare -U true 2>/dev/null && echo NEW-USERNS; unshare -r true 2>/dev/null && echo NEW-ROOT; "
    "python3 -c 'import ctypes; print(\"ptrace\", ctypes.CDLL(None).ptrace(16, 1, 0, 0))'; "  # PTRACE_ATTACH to PID 1
    "mount -t tmpfs none /mnt 2>/dev/null && echo MOUNTED; "
    # PID 1's pipes to the host (bubblewrap's supervisor) are out of reach: no forged results.
    "(echo forged > /proc/1/fd/1) 2>/dev/null && echo WROTE-PID1; ls /proc/1/fd >/dev/null 2>&1 && echo SAW-PID1; "
    "echo END"
)


def dgm(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dgm", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_confinement_holds_on_every_backend(base_image: str, run_id: str, backend: str) -> None:
    with Sandbox.start(base_image, run_id=run_id, limits=Limits(wall_seconds=120)) as box:
        assert box.backend == backend
        res = box.exec(CONFINEMENT)
        # Agent code kills whatever it can reach, PID 1 included: the sandbox carries on.
        box.exec("kill -KILL 1; kill -KILL -1", timeout=30)
        assert box.exec("echo still").output == "still\n" and box.is_running()
    lines = res.output.splitlines()
    assert res.ok and lines[-1] == "END", res
    assert lines[0] == "1000" and lines[1] != os.uname().nodename
    status = dict(ln.split(":\t") for ln in lines[2:6])
    assert status["CapEff"] == status["CapBnd"] == "0000000000000000"
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"  # a seccomp filter is on
    assert "NEW-USERNS" not in res.output and "NEW-ROOT" not in res.output and "MOUNTED" not in res.output
    assert "WROTE-PID1" not in res.output and "forged" not in res.output and "SAW-PID1" not in res.output
    assert "ptrace -1" in res.output
    assert_next_sandbox_works(base_image, run_id)


def tool(name: str, **arguments) -> dict:
    return {"content": None, "tool_calls": [{"name": name, "arguments": arguments}]}


CALC = "def add(a, b):\n    return a - b\n"
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
FIX = [
    tool("editor", command="str_replace", path="calc.py", old_str="return a - b", new_str="return a + b"),
    tool("bash", command="python3 -m pytest -q test_calc.py 2>&1 | tail -1"),
    tool("submit", summary="fixed"),
]


def _setup_repo(box: Sandbox) -> None:
    box.put_file("/testbed/calc.py", CALC.encode())
    box.put_file("/testbed/test_calc.py", TEST.encode())
    assert box.exec("git init -q && git add -A && git commit -qm base").ok


def test_agent_runner_fixes_a_bug_on_every_backend(backend: str, run_id: str, tmp_path: Path) -> None:
    """The seed agent, the real relay over litellm to a loopback model, the sandbox of BACKEND."""
    from dgm.agent import SEED_TREE, AgentLimits, ensure_agent_image, run_agent
    from dgm.agent.patch import changed_files
    from dgm.llm import Gateway, ModelSettings, Relay, ScriptedModelServer

    image = ensure_agent_image()
    server = ScriptedModelServer({"sequence": FIX}).start()
    socket_dir = Path(tempfile.mkdtemp(prefix="dgm-relay-"))  # as the evolve session makes it
    settings = ModelSettings(model="openai/scripted", api_base=server.url, price_in_per_mtok=1.0,
                             price_out_per_mtok=2.0, timeout=30.0, max_retries=0)
    relay = Relay(Gateway({"task": settings}), socket_dir).start()
    try:
        run = run_agent(SEED_TREE, image=image, problem_statement="add(2, 3) returns -1", instance_id="toy-1",
                        relay=relay, run_id=run_id, account="task:toy-1",
                        limits=AgentLimits(max_steps=6, max_seconds=120, max_usd=1.0),
                        repo_setup=_setup_repo, out_dir=tmp_path / "out")
    finally:
        relay.stop()
        server.stop()
        shutil.rmtree(socket_dir, ignore_errors=True)
    assert run.status == "submitted", (run.reason, run.notes, run.log)
    assert changed_files(run.patch) == ["calc.py"] and "+    return a + b" in run.patch
    assert "1 passed" in run.trajectory["steps"][1]["outputs"][0]
    assert run.usage["calls"] == 3 and len(server.requests) == 3


@pytest.mark.parametrize("cgroups", ["on", "off"])
def test_doctor_and_docs_say_what_each_backend_holds_less_strictly(cgroups: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {} if cgroups == "on" else {"DGM_SANDBOX_CGROUPS": "off"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    res = dgm("doctor", "--no-smoke", env=env)
    docs = DOCS.read_text()
    for name in BACKENDS:
        why = missing(name)
        if why is not None:
            assert f"sandbox backend {name}: not available" in res.stdout
            continue
        assert f"ok   sandbox backend {name}: available" in res.stdout
        for guarantee, how in weakened(name).items():
            assert f"warn sandbox backend {name}: {guarantee}: {how}" in res.stdout
            assert f"- {guarantee}: {how}\n" in docs, (name, guarantee)
    assert weakened("docker") == {}
    if missing("bwrap") is not None:
        return
    parent = cgroup_parent()
    if parent is None:  # no cgroups for bubblewrap here: its memory limit is per process, never an OOM kill
        assert weakened("bwrap")["memory limit"].startswith("per process")
        assert weakened("bwrap")["CPU limit"].startswith("not held")
        assert weakened("bwrap")["process limit"].startswith("RLIMIT_NPROC")
        assert "limits in a cgroup" not in res.stdout
    else:
        assert {"memory limit", "process limit"}.isdisjoint(weakened("bwrap"))
        assert ("CPU limit" in weakened("bwrap")) == ("cpu" not in parent.controllers)
        assert f"ok   sandbox backend bwrap: {', '.join(sorted(parent.controllers))} limits in a cgroup" in res.stdout


@pytest.mark.parametrize("cgroups", ["on", "off"])
def test_bwrap_limits_by_cgroup_where_it_may_and_by_rlimits_where_not(
        cgroups: str, base_image: str, run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What doctor and the docs state is what a bubblewrap sandbox does: with cgroups, Docker's
    memory (OOM kill), pids and CPU limits in a cgroup of its own, removed with it; without, rlimits."""
    if missing("bwrap") is not None:
        pytest.skip(f"no bwrap here: {missing('bwrap')}")
    if cgroups == "off":
        monkeypatch.setenv("DGM_SANDBOX_CGROUPS", "off")
    elif cgroup_parent() is None:
        pytest.skip("this process may not create cgroups here (the 'off' case is what holds)")
    limits = Limits(memory_mb=256, pids=64, cpus=0.5, wall_seconds=120)
    with Sandbox.start(base_image, run_id=run_id, limits=limits, backend="bwrap") as box:
        hog = box.exec("python3 -c 'x = bytearray(1 << 30); print(len(x))'", timeout=60)
        ulimit = box.exec("ulimit -v; ulimit -u").output.split()
        cgroup = box.runtime.cgroup
        dirs = dict(cgroup.dirs) if cgroup is not None else {}
        if cgroup is not None:
            assert hog.oom_killed and hog.exit_code == 137, hog
            assert ulimit == ["unlimited", "64"]  # no RLIMIT_AS: the cgroup holds memory, as Docker's
            v1 = cgroup.version == 1
            mem = dirs["memory"] / ("memory.limit_in_bytes" if v1 else "memory.max")
            assert int(mem.read_text()) == 256 << 20
            assert (dirs["pids"] / "pids.max").read_text().strip() == "64"
            if "cpu" in dirs:
                quota = (dirs["cpu"] / ("cpu.cfs_quota_us" if v1 else "cpu.max")).read_text().split()[0]
                assert int(quota) == 50_000
            # Every process of the sandbox is in it, PID 1 and bubblewrap included.
            pids = {int(p) for p in (dirs["memory"] / "cgroup.procs").read_text().split()}
            assert box.runtime.proc.pid in pids and len(pids) >= 2
        else:
            assert not hog.oom_killed and "MemoryError" in hog.output, hog
            assert ulimit == [str(256 << 10), "64"]
        assert box.exec("echo alive").output == "alive\n"
    # Removed once its last process has left it (a moment after the SIGKILL, off the critical path).
    deadline = time.monotonic() + 30
    while any(d.exists() for d in dirs.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(d.exists() for d in dirs.values())


def test_cgroups_a_dead_process_left_are_swept_and_live_ones_kept() -> None:
    parent = cgroup_parent()
    if parent is None:
        pytest.skip("this process may not create cgroups here")
    left = SandboxCgroup(parent, f"test-left-{os.getpid()}", Limits())  # its dgm process died
    live = SandboxCgroup(parent, f"test-live-{os.getpid()}", Limits())
    sleeper = subprocess.Popen(["sh", "-c", "".join(f"echo $$ > {f} && " for f in live.procs_files)
                                + "exec sleep 60"])
    try:
        deadline = time.monotonic() + 10
        while not (Path(live.procs_files[0]).read_text().strip() or time.monotonic() > deadline):
            time.sleep(0.01)
        assert sweep(parent, min_age=60) == 0  # too young to be taken: it may be starting
        time.sleep(1.1)
        assert sweep(parent, min_age=1) >= 1
        assert not any(d.exists() for d in left.dirs.values())
        assert all(d.exists() for d in live.dirs.values())  # a process is in it
    finally:
        sleeper.kill()
        sleeper.wait()
        dirs = list(live.dirs.values())
        live.remove()
        deadline = time.monotonic() + 30
        while any(d.exists() for d in dirs) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(d.exists() for d in dirs)


def test_run_chooses_the_backend(backend: str) -> None:
    res = dgm("sandbox", "run", "--backend", backend, "--", "id -un; tr '\\0\\n' '  ' < /proc/1/cmdline | head -c 30; echo")
    assert res.returncode == 0, res.stderr
    first, pid1 = res.stdout.splitlines()
    assert first == "agent"
    keeper = {"docker": "/sbin/docker-init -- sleep", "podman": "python3 -I -c",
              "bwrap": "/usr/bin/python3 -I -S -c"}[backend]
    assert pid1.startswith(keeper), pid1


@pytest.mark.skipif(os.geteuid() != 0, reason="DGM_SANDBOX_USER is read only when dgm runs as root")
def test_choosing_a_backend_the_machine_lacks_is_one_line_and_exit_2() -> None:
    for name in ("podman", "bwrap"):
        res = dgm("sandbox", "run", "--backend", name, "--", "true", env={"DGM_SANDBOX_USER": "no-such-dgm-user"})
        assert res.returncode == 2, res
        assert res.stderr.count("\n") == 1 and f"sandbox backend {name} is not available" in res.stderr
        assert "useradd" in res.stderr
    res = dgm("sandbox", "run", "--", "true", env={"DGM_SANDBOX_BACKEND": "lxc"})
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "unknown sandbox backend 'lxc'" in res.stderr and "docker, podman, bwrap" in res.stderr


def test_sweep_removes_podman_sandboxes_of_a_dead_process(base_image: str, run_id: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if missing("podman") is not None:
        pytest.skip(f"backend podman not on this machine: {missing('podman')}")
    from dgm.sandbox.engine import engine_client
    from dgm.sandbox.sweep import sweep

    code = (
        "import os\n"
        "from dgm.sandbox.driver import Sandbox\n"
        f"box = Sandbox.start({base_image!r}, run_id={run_id!r}, backend='podman')\n"
        "print(box.id, flush=True)\n"
        "os._exit(0)  # dies without cleaning up\n"
    )
    orphan = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    api = engine_client("podman").api

    def ids() -> set[str]:
        return {c["Id"] for c in api.containers(all=True, filters={"label": f"dgm.run={run_id}"})}

    assert ids() == {orphan}
    monkeypatch.setenv("DGM_SANDBOX_BACKEND", "podman")
    assert sweep(run_id) == 1 and ids() == set()


def test_without_docker_podman_builds_the_images_and_both_daemonless_backends_use_them(base_image: str) -> None:
    """No Docker engine reachable: the same recipes build with rootless Podman, and Podman and
    bubblewrap sandboxes run from what it built."""
    if missing("podman") is not None:
        pytest.skip(f"backend podman not on this machine: {missing('podman')}")
    from dgm.sandbox.podman import ensure_podman_image

    ensure_podman_image(base_image)  # what a Docker-less machine's `dgm sandbox build` leaves
    marker = os.urandom(6).hex()
    code = (
        "from dgm.sandbox.driver import Sandbox\n"
        "from dgm.sandbox.engine import image_engine\n"
        "from dgm.sandbox.images import ensure_image\n"
        "assert image_engine() == 'podman', image_engine()\n"
        f"tag = ensure_image('dgm-test-podman-layer', None, 'RUN echo {marker} > /opt/marker', base={base_image!r},"
        " progress=lambda line: None)\n"
        "print(tag, flush=True)\n"
        "for backend in ('podman', 'bwrap'):\n"
        "    with Sandbox.start(tag, run_id='test-nodocker', backend=backend) as box:\n"
        "        print(backend, box.exec('cat /opt/marker; id -un').output.split(), flush=True)\n"
    )
    env = {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "DGM_SANDBOX_BACKEND": "podman"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                         env={**os.environ, **env})
    lines = res.stdout.splitlines()
    if lines:  # the test's image and its unpacked directory go
        from dgm.home import dgm_home
        from dgm.sandbox.engine import engine_client

        images = engine_client("podman").images
        image_id = images.get(lines[0]).id.split(":")[-1]
        images.remove(lines[0], force=True)
        shutil.rmtree(dgm_home() / "bwrap" / image_id[:16], ignore_errors=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert lines[1:] == [f"podman ['{marker}', 'agent']", f"bwrap ['{marker}', 'agent']"]


def test_prune_removes_unpacked_images_no_sandbox_uses(base_image: str, run_id: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`dgm sandbox prune` removes an unpacked image whose image is gone and, with --bwrap-keep,
    the least recently used; never one a sandbox is running from; a later sandbox unpacks again."""
    if missing("bwrap") is not None:
        pytest.skip(f"no bwrap here: {missing('bwrap')}")
    from dgm.cli import main

    monkeypatch.setenv("DGM_HOME", str(tmp_path / "home"))
    unpacked = tmp_path / "home" / "bwrap"
    stale = unpacked / "0123456789abcdef"  # an image rebuilt since: the engine has no such id
    (stale / "root" / "usr").mkdir(parents=True)
    (stale / "root" / "usr").chmod(0o555)  # as images have: removed all the same
    (stale / "complete.json").write_text("{}")
    with Sandbox.start(base_image, run_id=run_id, backend="bwrap") as box:
        (ours,) = [d for d in unpacked.iterdir() if d != stale]
        assert main(["sandbox", "prune", "--bwrap-keep", "0"]) == 0
        assert not stale.exists() and (ours / "root" / "usr").is_dir()  # in use: stays
        assert box.exec("echo still").output == "still\n"
    assert main(["sandbox", "prune", "--bwrap-keep", "1"]) == 0
    assert (ours / "complete.json").is_file()  # the most recently used one
    assert main(["sandbox", "prune"]) == 0 and ours.exists()  # its image exists: kept by default
    assert main(["sandbox", "prune", "--bwrap-keep", "0"]) == 0
    assert list(unpacked.iterdir()) == []
    assert main(["sandbox", "prune", "--bwrap-keep", "-1"]) == 2
    with Sandbox.start(base_image, run_id=run_id, backend="bwrap") as box:  # unpacked anew
        assert box.exec("echo again").output == "again\n"
