"""Agents whose outputs are poisoned — wrong types, huge, deep, not UTF-8, links, FIFOs, directories —
each end as a recorded "crashed" run whose reason names the output at fault; the engine never stalls."""

from __future__ import annotations

import json
import threading

import pytest

from dgm.agent import AgentLimits, run_agent

from .conftest import tool

pytestmark = pytest.mark.docker

PRELUDE = """import json, os
os.makedirs('/io/out', exist_ok=True)
open('/testbed/a.py', 'a').write('y = 2\\n')
OUT = '/io/out/trajectory.json'
def doc(**fields):
    d = {'format': 'dgm-trajectory-1', 'status': 'submitted', 'reason': 'done', 'messages': [], 'steps': []}
    d.update(fields)
    return d
def write(value, path=OUT):
    json.dump(value, open(path, 'w'))
"""

VARIANTS = {
    "step_content_list": ("write(doc(steps=[{'i': k} for k in range(3)] + [{'i': 4, 'content': ['x']}]))",
                          "trajectory.json: steps[3].content is a list, not a string"),
    "tool_call_function_string": ("write(doc(messages=[{'role': 'user', 'content': 'x'}, {'role': 'assistant', "
                                  "'tool_calls': [{'id': '1', 'function': 'oops'}]}]))",
                                  "trajectory.json: messages[1].tool_calls[0].function is a string, not an object"),
    "usage_text": ("write(doc(usage={'cost_usd': 'free'}))", "trajectory.json: usage.cost_usd is a string"),
    "over_the_cap": ("write(doc(reason='x' * 12_000_000))", "trajectory.json is larger than 10000000 bytes"),
    "too_many_values": ("write(doc(messages=[{'role': 'user', 'content': ''}] * 150_000))",
                        "trajectory.json holds more than 200000 JSON values"),
    "deep_nesting": ("open(OUT, 'w').write('[' * 100_000 + ']' * 100_000)", "trajectory.json is nested deeper than 32"),
    "not_utf8": ("open(OUT, 'wb').write(b'{\"format\": \"dgm-trajectory-1\", \"reason\": \"\\xff\\xfe\"}')",
                 "trajectory.json is not UTF-8"),
    "truncated": ("open(OUT, 'w').write(json.dumps(doc())[:-9])", "trajectory.json is not JSON"),
    "link_to_dev_zero": ("os.symlink('/dev/zero', OUT)", "trajectory.json is a symbolic link"),
    "link_to_device": ("os.symlink('/dev/urandom', OUT)", "trajectory.json is a symbolic link"),
    "fifo": ("os.mkfifo(OUT)", "trajectory.json is a FIFO"),
    "directory": ("os.mkdir(OUT)", "trajectory.json is a directory"),
    "result_wrong_type": ("write(doc()); write({'status': ['error']}, '/io/out/result.json')",
                          "result.json: status is a list, not a string"),
    "result_fifo": ("write(doc()); os.mkfifo('/io/out/result.json')", "result.json is a FIFO"),
}


def setup_repo(box) -> None:
    box.put_file("/testbed/a.py", b"x = 1\n")
    assert box.exec("git init -q && git add -A && git commit -qm base").ok


def within(seconds: float, fn, *args, **kwargs):
    """FN's result, or a test failure if it has not returned after SECONDS (the engine stalled)."""
    box: dict = {}

    def work() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s: the engine stalled on the artifact"
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_variant(tree, agent_image, run_id, relay, out, name):
    from dgm.sandbox import Limits

    return within(240, run_agent, tree, image=agent_image, problem_statement="anything",
                  instance_id=f"poisoned__{name}", relay=relay, run_id=run_id, account=f"task:{name}",
                  limits=AgentLimits(max_steps=5, max_seconds=60), repo_setup=setup_repo, out_dir=out,
                  sandbox_limits=Limits(memory_mb=512, wall_seconds=300))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_poisoned_output_is_a_recorded_crash(variant, agent_image, run_id, scripted_relay, tmp_path):
    body, reason = VARIANTS[variant]
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "agent.py").write_text(PRELUDE + body + "\n")
    relay, _ = scripted_relay([tool("submit")])
    out = tmp_path / "out"
    run = run_variant(tree, agent_image, run_id, relay, out, variant)
    assert run.exit_code == 0, (run.log[-500:], run.notes)
    assert run.status == "crashed" and run.reason.startswith(reason), (run.reason, run.notes)
    assert "+y = 2" in run.patch  # what the agent did to the repository is still kept
    recorded = json.loads((out / "run.json").read_text())
    assert recorded["status"] == "crashed" and recorded["reason"] == run.reason
    if not variant.startswith("result"):
        assert run.trajectory is None and not (out / "trajectory.json").exists()


def test_a_large_valid_trajectory_is_kept_whole(agent_image, run_id, scripted_relay, tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    body = ("write(doc(steps=[{'i': 1, 'tool_calls': [{'id': 'c', 'name': 'bash', 'arguments': '{}'}], "
            "'outputs': ['o' * 8_000_000], 'seconds': 1.0, 'usage': {'tokens_in': 1}}]))")
    (tree / "agent.py").write_text(PRELUDE + body + "\n")
    relay, _ = scripted_relay([tool("submit")])
    run = run_variant(tree, agent_image, run_id, relay, tmp_path / "out", "large")
    assert run.status == "submitted", (run.reason, run.notes)
    assert len(run.trajectory["steps"][0]["outputs"][0]) == 8_000_000
    assert json.loads((tmp_path / "out" / "trajectory.json").read_text())["steps"][0]["usage"] == {"tokens_in": 1}
