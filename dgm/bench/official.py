"""Official SWE-bench images, when a registry is reachable (or the image is already local).

Rows in swebench 5.x's format name their `image`, `eval_script` and `log_parser`. Such an
image is pulled once, adapted to the sandbox conventions by a thin offline layer, and then
graded exactly like an offline-built environment: the same sandbox, the same framing, the
same swebench parser and get_eval_report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from dgm.bench.environment import RECIPE_DIR, image_name
from dgm.bench.instances import TaskInstance
from dgm.bench.specs import DEFAULT_NAMESPACE, DEFAULT_TAG, ClassicSpec, is_classic
from dgm.errors import BadInput, BenchError

ENVIRONMENTS = ("auto", "official", "rebuild")

START = ">>>>> Start Test Output"
END = ">>>>> End Test Output"
_APPLY = re.compile(r"^\s*(git (apply|checkout)|patch |cat <<|cat >|EOF)")
_NOISE = re.compile(r"^\s*(git (status|show|diff)|git -c \S+ diff)\b")  # prints the repo, not tests
# Where the official images keep the task's environment (conda env "testbed").
CONDA_PATH = "/opt/miniconda3/envs/testbed/bin:/opt/miniconda3/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass
class EnvironmentOptions:
    """Which environment an instance gets: the official image, the offline rebuild, or auto."""

    environments: str = "auto"  # auto: official when it can be had, else rebuild
    namespace: str = DEFAULT_NAMESPACE  # where classic rows' images live (a registry host may lead)
    tag: str = DEFAULT_TAG

    def __post_init__(self) -> None:
        if self.environments not in ENVIRONMENTS:
            raise BadInput(f"environments '{self.environments}' is not one of {', '.join(ENVIRONMENTS)}",
                           hint="auto: official image when it can be had, else rebuild")
        if not self.namespace.strip("/") or not self.tag or any(c.isspace() for c in self.namespace + self.tag):
            raise BadInput(f"image namespace '{self.namespace}' / tag '{self.tag}' is not usable",
                           hint="e.g. namespace swebench (or HOST:PORT/swebench), tag latest")


@dataclass
class OfficialTarget:
    """The official image of one instance and how to run its tests there."""

    image: str
    eval_script: str
    log_parser: str
    drop: tuple[str, ...] = ()
    origin: str = "row"  # "row" (swebench 5.x fields) or "specs" (derived for a classic row)


def target_for(instance: TaskInstance, spec: ClassicSpec | None) -> OfficialTarget | str:
    """The instance's official target, or why it has none (a sentence)."""
    if applies(instance):
        return OfficialTarget(str(instance.extra["image"]), str(instance.extra["eval_script"]),
                              str(instance.extra.get("log_parser") or instance.repo))
    if not is_classic(instance):
        return "a row with a dgm source has no official image"
    if spec is None or spec.error:
        return f"no official spec: {spec.error if spec else 'not derived'}"
    return OfficialTarget(spec.image, spec.eval_script, instance.repo,
                          drop=(spec.install,) if spec.install else (), origin="specs")


def applies(instance: TaskInstance) -> bool:
    """Whether the row names an official image and its eval script (swebench 5.x format)."""
    return bool(instance.extra.get("image")) and bool(instance.extra.get("eval_script"))


def command_from_eval_script(eval_script: str, *, drop: tuple[str, ...] = ()) -> str:
    """The official eval script's set-up lines (before it touches files) plus its test lines.

    Grading applies the test patch and frames the output itself; what remains of the
    script is how to enter the environment and how to run the tests. Set-up lines equal to
    one in DROP are left out (the spec's reinstall: the image has the repository installed
    already, and the sandbox has neither network nor a writable environment for pip).
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
        if line.strip() and line.strip() in {d.strip() for d in drop if d.strip()}:
            continue
        setup.append(line)
    tests = [ln for ln in lines[starts[0] + 1:ends[0]] if "SWEBENCH_TEST_EXIT_CODE" not in ln]
    return "\n".join([*setup, *tests]).strip()


def ensure_official_image(instance: TaskInstance, *, progress: Callable[[str], None] | None = None,
                          pull: bool = True, image: str | None = None, record: dict | None = None) -> str:
    """The adapted image tag; pulls the official image (IMAGE, default the row's) unless it is here.

    RECORD (when given) gets `source` ("local" or "pulled") and what a pull took.
    """
    from dgm.bench.pull import PullFailed, pull as pull_image, registry_of
    from dgm.sandbox.engine import image_exists
    from dgm.sandbox.images import ensure_image

    say = progress or (lambda line: None)
    official = image or str(instance.extra["image"])
    if image_exists(official):
        say(f"official image {official} is local")
        if record is not None:
            record["source"] = "local"
    else:
        if not pull:
            raise BenchError(f"official image {official} is not present locally")
        try:
            pulled = pull_image(official, progress=say)
            if record is not None:
                record.update(source="pulled", pull=pulled)
        except PullFailed as exc:
            raise BenchError(exc.message, hint=f"no image {official} at {registry_of(official)}: "
                                               "set dataset.environments = rebuild (offline) or check the registry"
                             ) from None
    dockerfile = (RECIPE_DIR / "Dockerfile.official").read_text().replace("{path}", CONDA_PATH)
    return ensure_image(image_name(instance.instance_id) + "-official", None, dockerfile, base=official,
                        progress=say)
