"""Adds nodes to an archive forever; the crash test SIGKILLs it at random moments."""

import random
import sys
from pathlib import Path

from dgm.archive import Archive

run, tree = Path(sys.argv[1]), Path(sys.argv[2])
rng = random.Random(int(sys.argv[3]))
archive = Archive.open(run)
(tree / "src").mkdir(parents=True, exist_ok=True)
(tree / "agent.py").write_text("print('agent')\n")
parents = [n.id for n in archive.nodes() if not n.rejected]
print("ready", flush=True)
i = 0
while True:
    i += 1
    # A fresh tree each time, so every add writes new blobs, trees and a commit.
    (tree / "src" / f"mod{i % 7}.py").write_text(f"STEP = {i} * {rng.random()}\n")
    status = rng.choice(["admitted", "pending", "rejected:crash test"])
    node = archive.add_node(rng.choice(parents), tree, status=status)
    if not node.rejected:
        parents.append(node.id)
    if i % 3 == 0:
        archive.record_result(node.id, f"task-{i}", {"resolved": rng.random() < 0.5, "stage": 0})
