"""Measure the archive: add a node, select parents, export the lineage, at 1k/10k/100k nodes.

Archives are grown to size by a bulk path (index rows sharing a few real commits, refs
written as one packed-refs file); adding a node is then timed with real adds (real
objects, commit, ref, row) on top of each size. Prints a table; asserts nothing.

    python scripts/bench_archive.py [--sizes 1000,10000,100000] [--adds 20]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dgm.archive import Archive
from dgm.archive import index, lineage
from dgm.archive.fsck import fsck
from dgm.archive.node import Node, score_of
from dgm.selection import SELECTORS, make_selector

TARGET_ADD_MS = 50.0
TARGET_SELECT_MS = 100.0      # at 100k nodes
TARGET_EXPORT_10K_MS = 2000.0  # at 10k nodes


def seed_tree(root: Path) -> Path:
    """The repository's seed agent if present, else a synthetic tree of similar size."""
    here = Path(__file__).resolve().parent.parent / "agents_archive" / "seed"
    if here.is_dir():
        return here
    for i in range(24):
        sub = root / f"pkg{i % 4}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"mod{i}.py").write_text(f"# module {i}\n" + "x = 1\n" * 200)
    (root / "agent.py").write_text("print('agent')\n")
    return root


def grow(archive: Archive, n: int, rng: random.Random) -> None:
    """Bulk-insert rows up to n nodes: a random lineage, statuses, ~10 results each."""
    commits = [archive.get("0").commit]
    gens = {0: 0}
    alive = [0]
    rows = []
    stamp = index.now()
    for i in range(1, n):
        parent = alive[-1 - min(len(alive) - 1, int(rng.expovariate(1 / 50)))]
        status = rng.choices(["admitted", "rejected:tests fail", "pending"], [6, 3, 1])[0]
        results = {f"repo__repo-{j}": {"resolved": rng.random() < 0.4, "empty_patch": False,
                                       "stage": 0} for j in range(10)}
        gens[i] = gens[parent] + 1
        node = Node(id=str(i), commit=commits[0], parent_id=str(parent), generation=gens[i],
                    status=status, results=results, score=score_of(results),
                    stage_scores={"0": score_of(results)}, created_at=stamp, updated_at=stamp)
        rows.append(index.node_row(node))
        if status != "rejected:tests fail":
            alive.append(i)
    archive.conn.execute("BEGIN IMMEDIATE")
    archive.conn.executemany(
        f"INSERT INTO nodes ({index.COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
    archive.conn.execute("COMMIT")
    # Every node keeps a ref, as git pack-refs would store them.
    refs = sorted(f"refs/dgm/nodes/{i}" for i in range(1, n))
    with open(archive.git.path / "packed-refs", "w") as fh:
        fh.write("# pack-refs with: peeled fully-peeled sorted \n")
        fh.writelines(f"{commits[0]} {r}\n" for r in refs)


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    """Median wall time of `repeat` calls in milliseconds, and the last result."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), out


def bench_size(n: int, adds: int, work: Path, rows: list) -> None:
    rng = random.Random(n)
    seed = seed_tree(work / "synthetic-seed")
    archive = Archive.create(work / f"run-{n}", seed)
    grow(archive, n, rng)
    tree = work / f"tree-{n}"
    archive.checkout("0", tree)
    add_times = []
    parents = [nd.id for nd in archive.nodes("admitted")][-50:]
    for i in range(adds):
        (tree / "bench_change.py").write_text(f"CHANGE = {i}  # {rng.random()}\n")
        t = time.perf_counter()
        archive.add_node(rng.choice(parents), tree, status="pending")
        add_times.append((time.perf_counter() - t) * 1000)
    rows.append(("add a node (median)", n, statistics.median(add_times), TARGET_ADD_MS))
    rows.append(("add a node (max)", n, max(add_times), TARGET_ADD_MS))
    t_rec, _ = timed(lambda: archive.record_result(str(n), "extra__task-1", {"resolved": True}), 5)
    rows.append(("record_result", n, t_rec, None))

    t_nodes, nodes = timed(archive.nodes)
    t_counts, counts = timed(archive.children_counts)
    rows.append(("load nodes()", n, t_nodes, None))
    rows.append(("children_counts()", n, t_counts, None))
    for name in SELECTORS:
        sel = make_selector(name)
        t_sel, _ = timed(lambda: sel.select(nodes, counts, 2, random.Random(1)), 5)
        rows.append((f"select {name} (k=2)", n, t_sel, TARGET_SELECT_MS if n >= 100_000 else None))

    t_graph, g = timed(lambda: lineage.build_graph(nodes))
    rows.append(("build graph", n, t_graph, None))
    for fmt in lineage.EXPORT_FORMATS:
        out = work / f"lineage-{n}.{fmt}"
        t_exp, _ = timed(lambda: lineage.export(g, fmt, out))
        target = TARGET_EXPORT_10K_MS if n == 10_000 else None
        rows.append((f"export {fmt} (graph built)", n, t_exp, target))
        rows.append((f"export {fmt} (from archive)", n, t_exp + t_nodes + t_graph, target))
    # Bulk rows share the root's commit, so fsck finds (and times) a git-parent mismatch per row.
    t_fsck, _ = timed(lambda: fsck(archive.path, git_objects=False))
    rows.append(("fsck --fast (bulk rows)", n, t_fsck, None))
    archive.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--adds", type=int, default=20, help="real adds timed per size")
    args = parser.parse_args()
    rows: list = []
    with tempfile.TemporaryDirectory(prefix="dgm-bench-archive-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            t = time.perf_counter()
            bench_size(n, args.adds, Path(tmp), rows)
            print(f"  size {n}: done in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    load = os.getloadavg()
    print(f"host: {os.cpu_count()} cpus, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} "
          "(shared machines inflate every number)")
    print(f"{'operation':34} {'nodes':>7} {'measured ms':>12} {'target ms':>10} {'ratio':>7}")
    for op, n, ms, target in rows:
        ratio = f"{ms / target:.3f}" if target else "-"
        print(f"{op:34} {n:>7} {ms:>12.2f} {target if target else '-':>10} {ratio:>7}")
    print("ratio = measured / target (below 1 meets the target)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
