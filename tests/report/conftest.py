"""A real archive (git + SQLite through the Archive API) with the artifacts the loop writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

XSS = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'


def _write_agent(tree: Path, body: str, extra: dict[str, str] | None = None) -> Path:
    tree.mkdir(parents=True, exist_ok=True)
    (tree / "agent.py").write_text(body)
    for name, text in (extra or {}).items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
    return tree


SEED = '''"""A tiny agent."""
import json, sys

def main():
    print("hello")

if __name__ == "__main__":
    main()
'''


def build_run(run: Path, work: Path) -> dict[str, str]:
    """Seed + 6 children over 3 iterations: admitted, rejected (two reasons), pending; returns roles -> ids."""
    from dgm.archive import Archive

    seed = _write_agent(work / "seed", SEED)
    arch = Archive.create(run, seed)
    ids: dict[str, str] = {"root": "0"}
    for k, iid in enumerate(["toy__calc-1", "toy__calc-2", "toy__strings-1", "toy__strings-2"]):
        arch.record_result("0", iid, {"resolved": k == 0, "empty_patch": False, "stage": 1})
    arch.update_node("0", stage_scores={"1": 0.25}, tokens_in=0, tokens_out=0, cost_usd=0.0)

    def child(parent: str, name: str, body: str, *, iteration: int, status: str, resolved: list[bool],
              diagnosis: dict, task: str, extra: dict[str, str] | None = None) -> str:
        tree = _write_agent(work / name, body, extra)
        node = arch.add_node(parent, tree, status="pending", diagnosis=diagnosis, improvement_task=task,
                             meta={"iteration": iteration})
        art = arch.artifacts_dir(node.id)
        (art / "diagnosis.json").write_text(json.dumps(diagnosis))
        (art / "selfmod").mkdir(exist_ok=True)
        (art / "selfmod" / "patch.diff").write_text(arch.diff(parent, node.id))
        for k, ok in enumerate(resolved):
            iid = ["toy__calc-1", "toy__calc-2", "toy__strings-1", "toy__strings-2"][k]
            result = {"resolved": ok, "empty_patch": False, "stage": 0 if k == 0 else 1}
            arch.record_result(node.id, iid, result)
            tdir = art / "tasks" / iid
            tdir.mkdir(parents=True, exist_ok=True)
            failing = [] if ok else [f"tests/test_{iid}.py::test_case"]
            (tdir / "report.json").write_text(json.dumps({iid: {"resolved": ok, "tests_status": {
                "FAIL_TO_PASS": {"success": [], "failure": failing}, "PASS_TO_PASS": {"success": [], "failure": []}}}}))
            (tdir / "eval.log").write_text(">>>>> Start Test Output\n...\n>>>>> End Test Output\n")
        score = sum(resolved) / len(resolved) if resolved else None
        arch.update_node(node.id, status=status, stage_scores={"0": 1.0 if resolved and resolved[0] else 0.0,
                                                               "1": score or 0.0},
                         tokens_in=1200 * (iteration + 1), tokens_out=300 * (iteration + 1),
                         cost_usd=0.01 * (iteration + 1), wall_seconds=30.0 + iteration)
        return node.id

    ids["a"] = child("0", "a", SEED.replace('print("hello")', 'print("hello")\n    retry = 3'), iteration=1,
                     status="admitted", resolved=[True, True, False, False],
                     diagnosis={"failure": "the agent gives up after one failing edit", "evidence": XSS},
                     task="Retry a failing edit up to three times.\nKeep the old behaviour otherwise.")
    ids["b"] = child("0", "b", SEED + "\nsyntax error here(\n", iteration=1, status="rejected:does not compile",
                     resolved=[], diagnosis={"failure": "too slow"}, task="Make it faster.")
    ids["c"] = child(ids["a"], "c", SEED.replace('print("hello")', 'print("hello")\n    retry = 3\n    run_tests()'),
                     iteration=2, status="admitted", resolved=[True, True, True, False],
                     diagnosis={"failure": "never runs the tests"}, task="Run the tests after each edit.",
                     extra={"tools/test_runner.py": "def run_tests():\n    return 0\n"})
    ids["d"] = child(ids["a"], "d", SEED.replace('print("hello")', 'pass'), iteration=2,
                     status="rejected:empty patches", resolved=[False, False, False, False],
                     diagnosis={"failure": "prints too much"}, task="Print less.")
    ids["e"] = child(ids["c"], "e", SEED.replace('print("hello")', 'print("hello")\n    retry = 5\n    run_tests()'),
                     iteration=3, status="rejected:below gate", resolved=[True, False, False, False],
                     diagnosis={"failure": "retries too few"}, task="Retry five times.")
    ids["f"] = child(ids["c"], "f", SEED.replace('print("hello")', 'print("hello!")\n    retry = 3\n    run_tests()'),
                     iteration=3, status="pending", resolved=[], diagnosis={"failure": "x"}, task="Say hello louder.")
    ids["best"] = ids["c"]
    calls = []
    for k in range(12):
        calls.append({"ts": f"2026-11-27T20:{10 + k:02d}:00+00:00", "accounts": ["run", f"node:{1 + k % 6}"],
                      "usage": {"prompt_tokens": 1000 + 10 * k, "completion_tokens": 200},
                      "cost_usd": 0.004, "latency_s": 0.1})
    (run / "llm_calls.jsonl").write_text("".join(json.dumps(c) + "\n" for c in calls))
    arch.close()
    return ids


@pytest.fixture
def run_dir(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    run = tmp_path / "run"
    ids = build_run(run, tmp_path / "trees")
    return run, ids
