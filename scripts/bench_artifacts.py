"""Host memory spent on one agent's trajectory.json, old way versus new, measured side by side.

Each case runs in a fresh interpreter that reads the document's bytes (as they leave the sandbox's
capture buffer); the number printed is the growth of its peak resident set (ru_maxrss) from there to
"the run's artifact is written and its outcome cached".
  old: json.loads, json.dumps(indent=1) for the artifact, dataclasses.asdict of the outcome for the cache
  new: dgm.artifacts.parse_trajectory (caps checked while parsing), the checked record written, cached
       without the trajectory
Documents: the seed's shape (messages and steps both hold every 10 kB tool output) at 20 and 9.5 MB, and
tiny messages (the most Python objects per byte) at 20 MB and just under the value cap.
Printed, never asserted:  python scripts/bench_artifacts.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CASE = r'''
import dataclasses, json, os, resource, sys, tempfile
path, way = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

@dataclasses.dataclass
class Outcome:
    trajectory: object
    log: str = ""

out = tempfile.mkdtemp()
verdict = "kept"
if way == "old":
    value = json.loads(data)
    text = json.dumps(value, indent=1, default=str)
    open(os.path.join(out, "trajectory.json"), "w").write(text)
    del text
    cached = dataclasses.asdict(Outcome(value))
else:
    from dgm.artifacts import ArtifactInvalid, parse_trajectory
    try:
        value = parse_trajectory(data).to_json()
        with open(os.path.join(out, "trajectory.json"), "w") as fh:
            json.dump(value, fh, indent=1)
        cached = dataclasses.asdict(Outcome(None))
    except ArtifactInvalid as exc:
        verdict = "refused: " + str(exc)[:45]
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"mb": (after - before) / 1024, "verdict": verdict}))
'''


def seed_like(size: int) -> dict:
    msgs, steps, k = [{"role": "system", "content": "s"}, {"role": "user", "content": "task"}], [], 0
    while len(msgs) * 10_100 < size:
        k += 1
        out = f"{k:08d}" + "o" * 9_992
        args = '{"command": "ls"}'
        msgs += [{"role": "assistant", "content": None,
                  "tool_calls": [{"id": f"c{k}", "type": "function", "function": {"name": "bash", "arguments": args}}]},
                 {"role": "tool", "tool_call_id": f"c{k}", "content": out}]
        steps.append({"i": k, "tool_calls": [{"id": f"c{k}", "name": "bash", "arguments": args}], "outputs": [out],
                      "seconds": 0.1, "usage": {"tokens_in": 1, "tokens_out": 1, "cost_usd": 0.0}})
    return {"format": "dgm-trajectory-1", "instance_id": "x", "messages": msgs, "steps": steps, "usage": {},
            "status": "submitted", "reason": "", "started_at": None, "finished_at": None}


def tiny(size: int) -> dict:
    n = size // 32  # {"role": "user", "content": "x"}, is 32 bytes
    return {"format": "dgm-trajectory-1", "messages": [{"role": "user", "content": "x"}] * n, "steps": [],
            "status": "submitted"}


def measure(payload: str, way: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CASE, payload, way], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def main() -> None:
    print(f"{'document':<22}{'old MB':>9}{'new MB':>9}{'ratio':>8}  new")
    for shape, size in (("seed", 20_000_000), ("seed", 9_500_000), ("tiny", 20_000_000), ("tiny", 2_000_000)):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(seed_like(size) if shape == "seed" else tiny(size), fh)
        try:
            old, new = measure(fh.name, "old"), measure(fh.name, "new")
            label = f"{shape} {os.path.getsize(fh.name) / 1e6:.1f} MB"
        finally:
            os.unlink(fh.name)
        ratio = old["mb"] / max(new["mb"], 1.0)
        print(f"{label:<22}{old['mb']:>9.0f}{new['mb']:>9.0f}{ratio:>7.1f}x  {new['verdict']}")


if __name__ == "__main__":
    main()
