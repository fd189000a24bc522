"""Official SWE-bench images, when a registry is reachable (or the image is already local).

Rows in swebench 5.x's format name their `image`, `eval_script` and `log_parser`. Such an
image is pulled once, adapted to the sandbox conventions by a thin offline layer, and then
graded exactly like an offline-built environment: the same sandbox, the same framing, the
same swebench parser and get_eval_report.
"""

from __future__ import annotations

import re
from typing import Callable

from dgm.bench.environment import RECIPE_DIR, image_name
from dgm.bench.instances import TaskInstance
from dgm.errors import BenchError

START = ">>>>> Start Test Output"
END = ">>>>> End Test Output"
_APPLY = re.compile(r"^\s*(git (apply|checkout)|patch |cat <<|cat >|EOF)")
_NOISE = re.compile(r"^\s*(git (status|show|diff)|git -c \S+ diff)\b")  # prints the repo, not tests
# Where the official images keep the task's environment (conda env "testbed").
CONDA_PATH = "/opt/miniconda3/envs/testbed/bin:/opt/miniconda3/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def applies(instance: TaskInstance) -> bool:
    """Whether the row names an official image and its eval script (swebench 5.x format)."""
    return bool(instance.extra.get("image")) and bool(instance.extra.get("eval_script"))


def command_from_eval_script(eval_script: str) -> str:
    """The official eval script's set-up lines (before it touches files) plus its test lines.

    Grading applies the test patch and frames the output itself; what remains of the
    script is how to enter the environment and how to run the tests.
    """
    lines = eval_script.splitlines()
    starts = [i for i, ln in enumerate(lines) if START in ln]
    ends = [i for i, ln in enumerate(lines) if END in ln]
    if not starts or not ends or ends[0] <= starts[0]:
        raise BenchError("the eval_script does not bracket its tests with the harness's markers")
    setup: list[str] = []
    for line in lines[:starts[0]]:
        if _APPLY.match(line):
            break
        if line.startswith("#!") or re.match(r"^\s*set -", line) or _NOISE.match(line):
            continue
        setup.append(line)
    tests = [ln for ln in lines[starts[0] + 1:ends[0]] if "SWEBENCH_TEST_EXIT_CODE" not in ln]
    return "\n".join([*setup, *tests]).strip()


def ensure_official_image(instance: TaskInstance, *, progress: Callable[[str], None] | None = None,
                          pull: bool = True) -> str:
    """The adapted image tag; pulls the official image unless it is already here."""
    import docker

    from dgm.sandbox.engine import docker_client, image_exists
    from dgm.sandbox.images import ensure_image

    official = str(instance.extra["image"])
    if not image_exists(official):
        if not pull:
            raise BenchError(f"official image {official} is not present locally")
        repo, tag = official, "latest"
        if ":" in official.rsplit("/", 1)[-1]:
            repo, tag = official.rsplit(":", 1)
        try:
            docker_client().images.pull(repo, tag=tag)
        except docker.errors.APIError as exc:
            raise BenchError(f"cannot pull {official}: {exc.explanation or exc}",
                             hint="no registry reachable: use a row without 'image' (offline rebuild)") from None
    dockerfile = (RECIPE_DIR / "Dockerfile.official").read_text().replace("{path}", CONDA_PATH)
    return ensure_image(image_name(instance.instance_id) + "-official", None, dockerfile, base=official,
                        progress=progress or (lambda line: None))
