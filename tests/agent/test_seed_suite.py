"""The seed's own test suite passes: on the host (our code) and as stage 0 runs it, in the agent image."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dgm.agent import SEED_TREE
from dgm.agent.task import stage_tree


def test_seed_suite_passes_on_the_host(tmp_path):
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", str(SEED_TREE / "tests")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


@pytest.mark.docker
def test_seed_suite_passes_as_stage_0_in_the_agent_image(agent_image, run_id, tmp_path):
    from dgm.sandbox import Sandbox

    tree = stage_tree(SEED_TREE, tmp_path)
    with Sandbox.start(agent_image, run_id=run_id) as box:
        box.put_tree(tree, "/testbed")
        version = box.exec("python3 -c 'import sys; print(sys.prefix)'")
        assert version.output.strip() == "/opt/dgm/venv"  # the venv's python comes first on PATH
        res = box.exec("cd /testbed && python3 -m pytest -q tests", timeout=300)
        assert res.ok, res.output[-3000:]
        assert " passed" in res.output


@pytest.mark.docker
def test_a_broken_child_fails_stage_0(agent_image, run_id, tmp_path):
    from dgm.sandbox import Sandbox

    tree = stage_tree(SEED_TREE, tmp_path)
    editor = tree / "coder" / "editor.py"
    editor.write_text(editor.read_text().replace("if count > 1:", "if count > 99:"))
    with Sandbox.start(agent_image, run_id=run_id) as box:
        box.put_tree(tree, "/testbed")
        # Only the editor's tests: the full suite already ran above, this shows a regression is caught.
        res = box.exec("cd /testbed && python3 -m pytest -q tests/test_editor.py", timeout=300)
        assert not res.ok and "test_str_replace_refuses_missing_and_ambiguous" in res.output
