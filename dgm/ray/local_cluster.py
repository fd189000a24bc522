"""A Ray cluster on this one machine, for tests, benchmarks and trying the Ray executor: a head and
worker nodes as separate `ray start --block` processes on 127.0.0.1, each with its own sandbox slots.
Stopped by killing exactly the processes it started (never `ray stop`, which reaches every Ray process
of the machine)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # on PYTHONPATH of every node: they import dgm from here
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session(sid: int) -> list[int]:
    """Every process of the session SID (each node is started in a session of its own)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getsid(int(entry.name)) == sid:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


class Cluster:
    """start_head(), add_node() (returns its process, for kill()), stop()."""

    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.temp = Path(tempfile.mkdtemp(prefix="dgmray-", dir="/tmp"))
        self.nodes: list[subprocess.Popen] = []
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_USAGE_STATS_ENABLED": "0",
                    # a killed node is noticed in seconds, not half a minute
                    "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3",
                    "LITELLM_OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    def _start(self, args: list[str], slots: int, env: dict | None = None) -> subprocess.Popen:
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=2", f"--memory={3 * 2**30}",
                  f"--object-store-memory={100 * 2**20}", f"--resources={json.dumps({'sandbox_slot': slots})}",
                  "--disable-usage-stats", "--block"]
        log = open(self.temp / f"node{len(self.nodes)}.log", "w")
        proc = subprocess.Popen([RAY, "start", *args, *common], env={**self.env, **(env or {})}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)
        self.nodes.append(proc)
        return proc

    def start_head(self, slots: int = 1) -> None:
        self._start(["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.temp}",
                     "--dashboard-agent-listen-port", str(free_port()), "--min-worker-port=0", "--max-worker-port=0"],
                    slots)
        self.wait_nodes(1)

    def add_node(self, slots: int = 1, env: dict | None = None) -> subprocess.Popen:
        """A worker node; ENV adds to its environment (e.g. a DOCKER_HOST that does not answer)."""
        count = self.alive()
        args = [f"--address={self.address}", "--min-worker-port=0", "--max-worker-port=0"]
        proc = self._start(args, slots, env)
        self.wait_nodes(count + 1)
        return proc

    def alive(self) -> int:
        out = subprocess.run([sys.executable, "-c", (
            "import ray; ray.init(address=%r, logging_level='ERROR', log_to_driver=False); "
            "print(sum(1 for n in ray.nodes() if n['Alive']))") % self.address],
            capture_output=True, text=True, env=self.env, timeout=60)
        try:
            return int(out.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return 0

    def wait_nodes(self, n: int, timeout: float = 90, exactly: bool = False) -> None:
        """Until the head sees at least N live nodes (EXACTLY: N, e.g. once a killed one is noticed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = self.alive()
            if alive == n or (alive > n and not exactly):
                return
            time.sleep(1)
        raise RuntimeError(f"Ray cluster did not reach {'exactly ' if exactly else ''}{n} node(s); see {self.temp}")

    def kill(self, proc: subprocess.Popen, wait: bool = False) -> None:
        """SIGKILL a node and every process it started (raylet, workers); WAIT until the head sees it gone."""
        before = self.alive() if wait else 0
        for pid in _session(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)
        deadline = time.monotonic() + 60
        while wait and self.alive() >= before and time.monotonic() < deadline:
            time.sleep(1)

    def stop(self) -> None:
        for proc in reversed(self.nodes):
            if proc.poll() is None:
                self.kill(proc)
        shutil.rmtree(self.temp, ignore_errors=True)
