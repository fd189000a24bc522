"""How the grader runs a task's tests: engine files, environment, and the runner's own record.

pytest runs with plugin autoloading off (a patch could register a plugin through package
metadata), with the plugins the image had installed before the patch loaded by name, and with
the engine's guard plugin loaded first (dgm/bench/engine_files/dgm_pytest_guard.py).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from dgm.bench.crosscheck import runner_kind
from dgm.bench.protected import RUNNER_REPOS

ENGINE_DIR = "/tmp/dgm/engine"
OUT_DIR = "/tmp/dgm/out"
FILES = Path(__file__).resolve().parent / "engine_files"
GUARD_FILE = FILES / "dgm_pytest_guard.py"
UNITTEST_GUARD = FILES / "unittest_sitecustomize.py"  # written as sitecustomize.py in its own dir
GUARD_CAP = 5_000_000
# Prints the pytest11 entry points installed in the image, read before the model patch exists.
PROBE = ("import json\ntry:\n import importlib.metadata as m\n e = m.entry_points()\n"
         " g = e.select(group='pytest11') if hasattr(e, 'select') else e.get('pytest11', [])\n"
         " print(json.dumps(sorted({x.value.split(':')[0].strip() for x in g})))\n"
         "except Exception:\n print('[]')\n")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_plugins_by_image: dict[str, list[str]] = {}


@dataclass
class RunnerPlan:
    """The runner kind and whether the guard plugin runs; `plugins` are loaded explicitly."""

    kind: str
    guarded: bool
    plugins: list[str] = field(default_factory=list)


def plan_for(test_command: str, log_parser: str, repo: str) -> RunnerPlan:
    """pytest and Django's unittest runner get a guard, except where the runner is the code under test."""
    kind = runner_kind(test_command, log_parser, repo)
    return RunnerPlan(kind, (kind == "pytest" and repo not in RUNNER_REPOS) or kind == "django")


def probe_command() -> str:
    """Shell that prints the image's pytest11 plugin modules as a JSON list (before any patch)."""
    # Grouped: a redirection after it (testrun writes it to a file) must take either output.
    return f"{{ python -I -c {shlex.quote(PROBE)} 2>/dev/null || echo '[]'; }}"


def cached_plugins(image: str) -> list[str] | None:
    return _plugins_by_image.get(image)


def remember_plugins(image: str, output: str) -> list[str]:
    """Parse the probe's output (data from the image, capped and checked) and cache it by image."""
    try:
        names = json.loads(output.strip().splitlines()[-1][:100_000]) if output.strip() else []
    except (json.JSONDecodeError, IndexError):
        names = []
    plugins = sorted({n for n in names if isinstance(n, str) and _MODULE.match(n) and n != "dgm_pytest_guard"})
    _plugins_by_image[image] = plugins
    return plugins


def engine_files() -> dict[str, bytes]:
    """Files (relative to /tmp/dgm) that the grader puts into the sandbox."""
    return {"engine/dgm_pytest_guard.py": GUARD_FILE.read_bytes(),
            "engine/unittest_guard/sitecustomize.py": UNITTEST_GUARD.read_bytes()}


GUARD_FD = 3  # the exec's own output stream, kept by eval.sh's caller while the tests' output goes to a file


def eval_script(repo_dir: str, test_command: str, plan: RunnerPlan, nonce: str) -> str:
    """The test script: the task's command with the runner locked down as PLAN says."""
    lines = ["set +x", f"cd {shlex.quote(repo_dir)}"]
    if plan.kind == "pytest":
        lines.append("export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1")
        opts = [f"-p {p}" for p in plan.plugins]
        if plan.plugins:
            # Autoload would have marked every plugin for assertion rewriting before importing any;
            # by name, a plugin another one already imported (xdist.plugin after xdist.looponfail)
            # warns, and a project's `filterwarnings = error` (astropy) turns that into a usage error.
            opts.insert(0, "-W ignore::pytest.PytestAssertRewriteWarning")
        if plan.guarded:
            opts.insert(0, "-p dgm_pytest_guard")
            lines += [f"export PYTHONPATH={ENGINE_DIR}${{PYTHONPATH:+:$PYTHONPATH}}",
                      f"export DGM_GUARD_FD={GUARD_FD} DGM_GUARD_NONCE={nonce}"]
        if opts:
            lines.append(f"export PYTEST_ADDOPTS={shlex.quote(' '.join(opts))}\"${{PYTEST_ADDOPTS:+ $PYTEST_ADDOPTS}}\"")
    elif plan.kind == "django" and plan.guarded:
        lines += [f"export PYTHONPATH={ENGINE_DIR}/unittest_guard${{PYTHONPATH:+:$PYTHONPATH}}",
                  f"export DGM_GUARD_FD={GUARD_FD} DGM_GUARD_NONCE={nonce}"]
    lines.append(test_command)
    return "\n".join(lines) + "\n"


def read_guard(stream: str, nonce: str) -> dict | None:
    """The guard's record from the exec's output stream: the one framed by NONCE (untrusted, capped)."""
    if not nonce:
        return None
    start = stream.find(nonce + " ")
    end = stream.find(" " + nonce, start + len(nonce) + 1) if start >= 0 else -1
    if start < 0 or end < 0 or end - start > GUARD_CAP:
        return None
    try:
        data = json.loads(stream[start + len(nonce) + 1:end])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None
