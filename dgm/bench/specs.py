"""What the official harness derives for a classic SWE-bench row: its image name and eval script.

Classic rows (as in princeton-nlp/SWE-bench_Verified and _Lite) name no `image` and no
`eval_script`; the harness derives both from the row and its per-repository, per-version
specs (test command, pre-install and eval commands). swebench 5.x dropped those tables and
wants the fields in the row, so they come from swebench 4.1.0, the last release with
`MAP_REPO_VERSION_TO_SPECS`: its own code, in its own directory, run in a child process
(the two releases share a package name and cannot be imported side by side). Nothing of
its tables is copied here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from dgm.bench.instances import TaskInstance
from dgm.errors import BenchError

CLASSIC_VERSION = "4.1.0"
DEFAULT_NAMESPACE = "swebench"
DEFAULT_TAG = "latest"
ENV_VAR = "DGM_SWEBENCH_CLASSIC"

# Runs in the child, with the classic package first on sys.path: rows in on stdin, specs out.
_CHILD = r"""
import json, sys
from swebench.harness.constants import MAP_REPO_VERSION_TO_SPECS
from swebench.harness.test_spec.create_scripts import make_eval_script_list
from swebench.harness.test_spec.test_spec import TestSpec
request = json.load(sys.stdin)
out = {}
for row in request["rows"]:
    iid = row["instance_id"]
    specs = MAP_REPO_VERSION_TO_SPECS.get(row["repo"], {}).get(row.get("version") or "")
    if specs is None:
        out[iid] = {"error": f"no spec for {row['repo']} version {row.get('version') or '(none)'}"}
        continue
    try:
        script = make_eval_script_list(row, specs, "testbed", "/testbed", row["base_commit"], row["test_patch"])
        spec = TestSpec(instance_id=iid, repo=row["repo"], version=row["version"], repo_script_list=[],
                        eval_script_list=script, env_script_list=[], arch="x86_64", FAIL_TO_PASS=[],
                        PASS_TO_PASS=[], language="py", docker_specs={}, namespace=request["namespace"],
                        base_image_tag="latest", env_image_tag="latest", instance_image_tag=request["tag"])
        out[iid] = {"image": spec.instance_image_key, "eval_script": spec.eval_script,
                    "install": specs.get("install", "")}
    except Exception as exc:
        out[iid] = {"error": f"{type(exc).__name__}: {exc}"}
json.dump(out, sys.stdout)
"""


@dataclass
class ClassicSpec:
    """The official image name and eval script of one classic row (or why there is none)."""

    image: str = ""
    eval_script: str = ""
    install: str = ""  # the spec's install command (the eval script repeats it)
    error: str = ""


def classic_dir() -> Path:
    """Where swebench 4.1.0 is installed (`pip install --target`): $DGM_SWEBENCH_CLASSIC or DGM_HOME."""
    from dgm.home import dgm_home

    return Path(os.environ.get(ENV_VAR) or dgm_home() / "swebench-classic")


def install_hint(where: Path | None = None) -> str:
    where = where or classic_dir()
    return f"install it: python -m pip install --no-deps --target {where} swebench=={CLASSIC_VERSION}"


def is_classic(instance: TaskInstance) -> bool:
    """A SWE-bench row without `image`/`eval_script` and without a dgm local source."""
    extra = instance.extra
    return not extra.get("image") and not extra.get("eval_script") and not extra.get("dgm_source")


def classic_specs(instances: Sequence[TaskInstance], *, namespace: str = DEFAULT_NAMESPACE,
                  tag: str = DEFAULT_TAG) -> dict[str, ClassicSpec]:
    """Per instance id, what the harness derives; one child process for the whole batch."""
    if not instances:
        return {}
    where = classic_dir()
    if not (where / "swebench" / "harness" / "test_spec" / "create_scripts.py").is_file():
        raise BenchError(f"swebench {CLASSIC_VERSION}'s per-version specs are not in {where}",
                         hint=install_hint(where))
    request = {"namespace": namespace, "tag": tag,
               "rows": [{k: v for k, v in i.to_row().items() if isinstance(v, (str, int, float, list))}
                        for i in instances]}
    env = {**os.environ, "PYTHONPATH": str(where)}
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD], input=json.dumps(request), capture_output=True,
                              text=True, env=env, timeout=300, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError("deriving eval scripts with swebench's specs took over 300 s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BenchError(f"swebench {CLASSIC_VERSION} in {where} failed: {last[:300]}", hint=install_hint(where))
    rows = json.loads(done.stdout)
    return {iid: ClassicSpec(**{k: str(v) for k, v in rows.get(iid, {"error": "no answer"}).items()})
            for iid in (i.instance_id for i in instances)}
