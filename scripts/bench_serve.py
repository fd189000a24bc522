"""Measure `dgm serve`: admission → appearance on an open page, the server's memory, the page's load time.

Archives are built with the real archive API (add_node: git objects, commit, ref, index row; then
update_node with results and a status), a small one and a large one (10,000 nodes by default). The
server runs as `python -m dgm serve` and the page in headless Chromium (Debian's chromium and
chromium-driver, driven by selenium). Prints a table with the targets side by side; asserts nothing.

    python scripts/bench_serve.py [--nodes 10000] [--admissions 10]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dgm.archive import Archive
from dgm.archive.node import score_of

REPO = Path(__file__).resolve().parent.parent
TARGET_LATENCY_S = 2.0
TARGET_RSS_MB = 200.0
TARGET_LOAD_S = 3.0
TASKS = [f"repo__repo-{j}" for j in range(6)]


def build(run: Path, n: int, rng: random.Random) -> Archive:
    """A run of `n` nodes through the archive API: a random lineage, ~30% rejected, 6 results each."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-serve-tree-"))
    seed = scratch / "seed"
    seed.mkdir()
    (seed / "agent.py").write_text("def main():\n    print('agent 0')\n")
    (seed / "lib.py").write_text("X = 1\n" * 80)
    archive = Archive.create(run, seed)
    admitted = ["0"]
    tree = scratch / "tree"
    shutil.copytree(seed, tree)
    for i in range(1, n):
        add(archive, tree, rng.choice(admitted[-200:]), i, rng, admitted)
    shutil.rmtree(scratch)
    return archive


def add(archive: Archive, tree: Path, parent: str, i: int, rng: random.Random, admitted: list[str]) -> str:
    (tree / "agent.py").write_text(f"def main():\n    print('agent {i}')\n    retry = {i % 7}\n")
    node = archive.add_node(parent, tree, status="pending", diagnosis={"failure": f"fails on case {i % 13}"},
                            improvement_task=f"Handle case {i % 13}.", meta={"iteration": i // 2, "slot": i % 2 + 1})
    results = {t: {"resolved": rng.random() < 0.45, "empty_patch": False, "stage": 1} for t in TASKS}
    status = "admitted" if rng.random() < 0.7 else "rejected:below gate"
    archive.update_node(node.id, status=status, results=results, score=score_of(results),
                        tokens_in=1000, tokens_out=200, cost_usd=0.01, wall_seconds=30.0)
    if status == "admitted":
        admitted.append(node.id)
    return node.id


def start_server(run: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "dgm", "serve", str(run), "--port", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    line = proc.stdout.readline()
    return proc, line.split(" at ", 1)[1].strip()


def rss_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def load_page(driver, url: str) -> tuple[float, float, dict]:
    """(seconds to the load event, seconds until the tree is drawn and the first node's panel is shown,
    where the time went: the server's answer, the script's drawing of the tree, the page's size)."""
    t0 = time.perf_counter()
    driver.get(url)
    deadline = time.monotonic() + 60
    while not driver.execute_script("return !!document.querySelector('#part-node article.panel')"):
        if time.monotonic() > deadline:
            raise SystemExit("the page never showed a node")
        time.sleep(0.01)
    shown = time.perf_counter() - t0
    nav = driver.execute_script("""
        var t = performance.getEntriesByType('navigation')[0], b = performance.getEntriesByName('dgm-tree-built')[0];
        return [t.loadEventEnd, t.responseStart - t.requestStart, t.responseEnd, b ? b.startTime : 0, t.encodedBodySize];""")
    return nav[0] / 1000.0, shown, {"server": nav[1] / 1000.0, "received": nav[2] / 1000.0,
                                    "built": nav[3] / 1000.0, "kb": nav[4] / 1000.0}


WATCH = """
window.seenAt = {};
new MutationObserver(function () {
  document.querySelectorAll('svg.lineage g.node').forEach(function (g) {
    var id = g.getAttribute('data-node');
    if (!(id in window.seenAt)) { window.seenAt[id] = Date.now(); }
  });
}).observe(document.getElementById('part-tree'), {childList: true, subtree: true});
document.querySelectorAll('svg.lineage g.node').forEach(function (g) { window.seenAt[g.getAttribute('data-node')] = 0; });
"""


def latencies(driver, archive: Archive, k: int, rng: random.Random) -> list[float]:
    """Admit k nodes one by one; seconds from each admission's commit to its circle in the open page."""
    driver.execute_script(WATCH)
    tree = Path(tempfile.mkdtemp(prefix="bench-serve-tree-"))
    archive.checkout("0", tree / "t")
    out = []
    admitted = [n.id for n in archive.nodes("admitted")][-50:]
    for _ in range(k):
        i = len(archive)
        node = archive.add_node(rng.choice(admitted), tree / "t", status="pending",
                                meta={"iteration": i // 2, "slot": 1})
        (tree / "t" / "agent.py").write_text(f"print({i})\n")
        results = {t: {"resolved": True, "empty_patch": False, "stage": 1} for t in TASKS}
        archive.update_node(node.id, results=results, score=1.0, status="admitted")
        committed = time.time()
        deadline = time.monotonic() + 30
        while True:
            seen = driver.execute_script(f"return window.seenAt[{node.id!r}] || null")
            if seen:
                out.append(seen / 1000.0 - committed)
                break
            if time.monotonic() > deadline:
                out.append(float("inf"))
                break
            time.sleep(0.02)
        time.sleep(0.3)
    shutil.rmtree(tree)
    return out


def measure(run: Path, archive: Archive, k: int, rng: random.Random) -> dict:
    proc, url = start_server(run)
    driver = browser()
    try:
        base_rss = rss_mb(proc.pid)[0]
        load, shown, cold_parts = load_page(driver, url)
        cold = (load, shown)
        load, shown, parts = load_page(driver, url.split("?", 1)[0])  # again, the server's view now cached
        lat = latencies(driver, archive, k, rng)
        now, peak = rss_mb(proc.pid)
        return {"nodes": len(archive), "loadavg": os.getloadavg()[0], "cold_load": cold[0], "cold_shown": cold[1], "load": load, "shown": shown,
                "cold_server": cold_parts["server"], "server": parts["server"], "received": parts["received"],
                "built": parts["built"], "kb": parts["kb"],
                "lat_median": statistics.median(lat), "lat_max": max(lat), "rss_idle": base_rss, "rss": now,
                "rss_peak": peak}
    finally:
        driver.quit()
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=50)
    ap.add_argument("--admissions", type=int, default=10)
    args = ap.parse_args()
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    rows = []
    try:
        for n in (args.small, args.nodes):
            t = time.perf_counter()
            archive = build(work / f"run-{n}", n, rng)
            print(f"built a {n}-node archive through the archive API in {time.perf_counter() - t:.0f} s", flush=True)
            rows.append(measure(work / f"run-{n}", archive, args.admissions, rng))
            archive.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    small, big = rows
    print()
    print(f"{'':44}{small['nodes']:>10,}{big['nodes']:>10,}{'ratio':>8}  target")
    for key, label, unit, target in (
        ("lat_median", "admission -> on the open page, median", "s", f"< {TARGET_LATENCY_S} s"),
        ("lat_max", "admission -> on the open page, worst", "s", f"< {TARGET_LATENCY_S} s"),
        ("cold_load", "page load event, first load", "s", f"< {TARGET_LOAD_S} s"),
        ("cold_shown", "tree drawn + a node's panel, first load", "s", f"< {TARGET_LOAD_S} s"),
        ("shown", "tree drawn + a node's panel, again", "s", f"< {TARGET_LOAD_S} s"),
        ("cold_server", "  of which the server's answer, first load", "s", ""),
        ("server", "  of which the server's answer, again", "s", ""),
        ("received", "  page received, again", "s", ""),
        ("built", "  tree drawn by the script, again", "s", ""),
        ("kb", "page size", "kB", ""),
        ("rss_idle", "server memory before the first page", "MB", ""),
        ("loadavg", "load average (1 min) after the measures", "", ""),
        ("rss", "server memory after load and admissions", "MB", f"< {TARGET_RSS_MB:.0f} MB"),
        ("rss_peak", "server peak memory", "MB", f"< {TARGET_RSS_MB:.0f} MB"),
    ):
        a, b = small[key], big[key]
        print(f"{label:44}{a:>9.2f}{unit[:1] or ' '}{b:>9.2f}{unit[:1] or ' '}{b / a if a else float('nan'):>8.1f}  {target}")


if __name__ == "__main__":
    main()
