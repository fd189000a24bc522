"""Sandbox overheads of each backend, measured side by side in one run (printed, never asserted).

1. Full lifecycle through the driver (create, start, exec a trivial command, collect
   /io/out, remove) on each backend versus `docker run --rm IMAGE true` through the Docker CLI.
2. A ~5-second CPU-bound test command on the host versus inside a sandbox of each backend.
Targets: Docker lifecycle overhead < 0.3 s, bubblewrap lifecycle < 50 ms, Podman within 1.5x
of Docker; the 5-second test < 1.1x its host time on every backend.

    python scripts/bench_sandbox.py [--backends docker,podman,bwrap] [--rounds 10] [--repeats 3]
                                    [--lifecycle-only]

Lifecycles print their median and their fastest (the fastest says what a backend costs when
the machine's other work does not get in the way), and the median of each phase (create: start
and seed; exec: `true`; collect: get_tree of /io/out; remove); the load average is printed too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dgm.sandbox.driver import Limits, Sandbox, sweep
from dgm.sandbox.images import ensure_base_image

# A deterministic CPU-bound "test suite": N rounds of pure-Python work.
WORKLOAD = (
    "import sys, time\n"
    "n = int(sys.argv[1])\n"
    "acc = 0\n"
    "for i in range(n):\n"
    "    acc = (acc * 31 + i) % 1000003\n"
    "print(acc, time.process_time())\n"
)


PHASES = ("create", "exec", "collect", "remove")


def lifecycle(image: str, run_id: str, out: Path, backend: str, phases: dict[str, list[float]] | None = None) -> float:
    """Seconds of one lifecycle; each phase's seconds appended to PHASES."""
    marks = [time.perf_counter()]
    with Sandbox.start(image, run_id=run_id, limits=Limits(wall_seconds=120), backend=backend) as box:
        marks.append(time.perf_counter())
        res = box.exec(["true"])
        assert res.ok, res
        marks.append(time.perf_counter())
        box.get_tree("/io/out", out)
        marks.append(time.perf_counter())
    marks.append(time.perf_counter())
    if phases is not None:
        for name, a, b in zip(PHASES, marks, marks[1:]):
            phases.setdefault(name, []).append(b - a)
    return marks[-1] - marks[0]


def docker_run(image: str) -> float:
    started = time.perf_counter()
    subprocess.run(["docker", "run", "--rm", "--network", "none", image, "true"], check=True,
                   capture_output=True)
    return time.perf_counter() - started


def host_python(choice: str, image: str) -> list[str]:
    """The host side's interpreter: CHOICE, or with `image` the image's own python3 run on the host
    by chroot into its bubblewrap unpack (root only): the very same binary, outside any sandbox."""
    if choice != "image":
        return [choice]
    from dgm.sandbox.unpack import unpacked_image

    if os.geteuid() != 0:
        raise SystemExit("--host-python image: needs root (chroot)")
    root, _, lock = unpacked_image(image)
    os.close(lock)
    return ["chroot", str(root), "/usr/bin/python3"]


def host_workload(python: list[str], n: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds the test itself reported)."""
    started = time.perf_counter()
    out = subprocess.run([*python, "-c", WORKLOAD, str(n)], check=True, capture_output=True, text=True)
    return time.perf_counter() - started, float(out.stdout.split()[1])


def sandbox_workload(box: Sandbox, n: int) -> tuple[float, float]:
    started = time.perf_counter()
    res = box.exec(["python3", "-c", WORKLOAD, str(n)], timeout=120)
    assert res.ok, res
    return time.perf_counter() - started, float(res.output.split()[1])


def cpu_test(image: str, run_id: str, backends: list[str], python: list[str], repeats: int,
             host: list[tuple[float, float]], boxed: dict[str, list[tuple[float, float]]]) -> None:
    """The ~5-second test on the host and in a sandbox of each backend, alternating; into HOST, BOXED."""
    # Calibrate the workload to ~5 s on the host.
    probe = 4_000_000
    n = int(probe * 5.0 / host_workload(python, probe)[1])
    boxes = {b: Sandbox.start(image, run_id=run_id, limits=Limits(cpus=1.0, wall_seconds=900), backend=b)
             for b in backends}
    try:
        for b in backends:
            sandbox_workload(boxes[b], probe)
        for i in range(repeats):  # alternate who goes first: load drifts
            order = backends if i % 2 else list(reversed(backends))
            if i % 2:
                host.append(host_workload(python, n))
            for b in order:
                boxed[b].append(sandbox_workload(boxes[b], n))
            if not i % 2:
                host.append(host_workload(python, n))
    finally:
        for box in boxes.values():
            box.stop()


def main() -> int:
    from dgm.sandbox.backends import BACKENDS, missing

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated backends to measure; those missing here are skipped "
                             "(default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=10, help="lifecycles to time per backend (default: 10)")
    parser.add_argument("--repeats", type=int, default=3, help="5-second runs per side (default: 3)")
    parser.add_argument("--lifecycle-only", action="store_true", help="measure lifecycles only, not the 5-second test")
    parser.add_argument("--host-python", default=shutil.which("python3", path="/usr/bin:/bin") or sys.executable,
                        help="host interpreter for the test (default: %(default)s); `image` runs the "
                             "image's own python3 on the host by chroot (root only): the same binary, "
                             "so only the sandbox differs (the distribution's python3 may be another "
                             "build of the same version)")
    args = parser.parse_args()
    backends = []
    for name in args.backends.split(","):
        why = missing(name)
        if why:
            print(f"skipping backend {name}: {why}", file=sys.stderr)
        else:
            backends.append(name)
    image = ensure_base_image()
    run_id = f"bench-{os.getpid()}"
    times: dict[str, list[float]] = {b: [] for b in backends}
    phases: dict[str, dict[str, list[float]]] = {b: {} for b in backends}
    cli: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for b in backends:
                lifecycle(image, run_id, Path(tmp) / f"warm-{b}", b)
            docker_run(image)
            for i in range(args.rounds):  # interleaved so load drifts hit all alike
                for b in backends:
                    times[b].append(lifecycle(image, run_id, Path(tmp) / f"{b}-{i}", b, phases[b]))
                cli.append(docker_run(image))
        host: list[tuple[float, float]] = []
        boxed: dict[str, list[tuple[float, float]]] = {b: [] for b in backends}
        if not args.lifecycle_only:
            cpu_test(image, run_id, backends, host_python(args.host_python, image), args.repeats, host, boxed)
    finally:
        sweep(run_id)
    m_cli = statistics.median(cli)
    rows = [("docker run --rm IMAGE true via CLI (median)", f"{m_cli:.3f} s", f"n={len(cli)}")]
    targets = {"docker": "overhead target < 0.3 s", "podman": "target < 1.5x docker's",
               "bwrap": "target < 0.050 s"}
    for b in backends:
        m = statistics.median(times[b])
        rows.append((f"{b}: lifecycle via driver (median)", f"{m:.3f} s", targets[b]))
        rows.append((f"{b}: lifecycle via driver (fastest)", f"{min(times[b]):.3f} s", f"n={len(times[b])}"))
        rows.append((f"{b}: phases, median ms", "", " ".join(
            f"{k} {statistics.median(v) * 1000:.1f}" for k, v in phases[b].items())))
        rows.append((f"{b}: lifecycle ratio (driver / docker CLI)", f"{m / m_cli:.2f}x", ""))
    if "docker" in backends and "podman" in backends:
        rows.append(("podman / docker lifecycle (driver)",
                     f"{statistics.median(times['podman']) / statistics.median(times['docker']):.2f}x",
                     "target < 1.5x"))
    if host:
        m_host = statistics.median(h[0] for h in host)
        c_host = statistics.median(h[1] for h in host)
        rows.append(("CPU-bound test on the host (median)", f"{m_host:.3f} s", f"n={len(host)}"))
    for b in backends if host else ():
        m_box = statistics.median(x[0] for x in boxed[b])
        c_box = statistics.median(x[1] for x in boxed[b])
        rows.append((f"{b}: same test inside (median)", f"{m_box:.3f} s", f"n={len(boxed[b])}"))
        rows.append((f"{b}: test ratio (sandbox / host), wall", f"{m_box / m_host:.3f}x", "target < 1.1x"))
        rows.append((f"{b}: test ratio (sandbox / host), CPU time", f"{c_box / c_host:.3f}x",
                     "insensitive to other load"))
    width = max(len(r[0]) for r in rows)
    version = subprocess.run([*host_python(args.host_python, image), "-V"], capture_output=True,
                             text=True).stdout.strip()
    load = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
    print(f"image {image}; {os.cpu_count()} CPUs, load {load}; host test interpreter "
          f"{args.host_python} ({version})")
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>10}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
