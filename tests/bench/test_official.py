"""Rows that name an official image and eval script (swebench 5.x format) use that image."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dgm.bench.official import applies, command_from_eval_script

BASE = "0" * 40


def eval_script(test_file: str, activate: str, test_cmd: str, test_patch: str) -> str:
    """An eval script shaped like the harness's (set-up, checkout, heredoc patch, bracketed tests)."""
    return "\n".join([
        "#!/bin/bash", "set -uxo pipefail", activate, "cd /testbed",
        "git config --global --add safe.directory /testbed", "cd /testbed", "git status", "git show",
        f"git -c core.fileMode=false diff {BASE}", activate,
        f"git checkout {BASE} {test_file}", "git apply -v - <<'EOF_114329324912'", test_patch.rstrip("\n"),
        "EOF_114329324912", ": '>>>>> Start Test Output'", test_cmd, "SWEBENCH_TEST_EXIT_CODE=$?",
        ": '>>>>> End Test Output'", 'echo ">>>>> Test Exit Code: $SWEBENCH_TEST_EXIT_CODE"',
        f"git checkout {BASE} {test_file}",
    ]) + "\n"


def test_the_test_command_is_the_scripts_setup_and_test_lines():
    script = eval_script("t/test_x.py", "source /opt/miniconda3/bin/activate\nconda activate testbed",
                         "pytest -rA t/test_x.py", "diff --git a/t/test_x.py b/t/test_x.py\n+x\n")
    assert command_from_eval_script(script) == (
        "source /opt/miniconda3/bin/activate\nconda activate testbed\ncd /testbed\n"
        "git config --global --add safe.directory /testbed\ncd /testbed\n"
        "source /opt/miniconda3/bin/activate\nconda activate testbed\npytest -rA t/test_x.py")


@pytest.mark.docker
def test_an_official_style_image_is_adapted_validated_and_graded(toy_store, toy_instances, tmp_path, run_id):
    """A local image stands in for a pulled one (no registry here); the rest is the real path."""
    from dgm.bench.build import build_instance
    from dgm.bench.grading import grade
    from dgm.bench.store import BenchStore

    toy = toy_instances["dgm-toy__calc-1"]
    stand_in = toy_store.environment(toy.instance_id).image  # has the repo at /testbed, like theirs
    extra = {k: v for k, v in toy.extra.items() if k not in ("dgm_source", "test_command")}
    extra.update(image=stand_in, log_parser="parse_log_pytest",
                 eval_script=eval_script("tests/test_arith.py", "source /opt/dgm/venv/bin/activate",
                                         "python -m pytest -rA -p no:cacheprovider tests/test_arith.py",
                                         toy.test_patch))
    row = replace(toy, instance_id="dgm-toy__calc-official", extra=extra)
    assert applies(row)
    store = BenchStore(tmp_path / "store")
    env = build_instance(row, store, run_id=run_id)
    assert env.status == "validated", env.detail
    assert env.notes["kind"] == "official" and env.image.startswith("dgm-env-dgm-toy__calc-official-official:")
    assert grade(row, env, row.patch, run_id=run_id).resolved
    assert not grade(row, env, "", run_id=run_id).resolved
