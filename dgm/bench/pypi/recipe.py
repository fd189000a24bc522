"""recipe_for_release: a real SWE-bench instance's environment recipe from a PyPI release."""

from __future__ import annotations

import re
import shutil
import shlex
import tomllib
from pathlib import Path

from dgm.bench.hints import clean_tree
from dgm.bench.instances import TaskInstance
from dgm.bench.pypi.directives import directives_for
from dgm.bench.pypi.release_map import release_for
from dgm.bench.pypi.releases import download_sdist, project_for, release_files, release_upload_time
from dgm.bench.pypi.reverse import reverse_patches, unpack
from dgm.bench.pypi.specs import PY, spec_for, sympy_test_command
from dgm.bench.pypi.wheels import fetch_resolved, wheel_pins
from dgm.bench.recipe import EnvRecipe
from dgm.errors import BenchError
from dgm.home import dgm_home
from dgm.sandbox.locks import build_lock

PYTHON_OF_SUITE = {"bookworm": "3.11", "bullseye": "3.9"}

def build_requirements(tree: Path) -> list[str]:
    """The PEP 518 build requirements of the source tree (setuptools and wheel when it has none);
    installed in the image so that `pip install --no-build-isolation -e .` needs no network."""
    reqs: list[str] = []
    pyproject = tree / "pyproject.toml"
    if pyproject.exists():
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
            reqs = list(data.get("build-system", {}).get("requires", []))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            reqs = []
    # A build-isolation aid that pins numpy for binary wheels; the build here uses the installed numpy.
    reqs = [r for r in reqs if not r.strip().lower().startswith("oldest-supported-numpy")]
    names = {r.split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower() for r in reqs}
    for default in ("setuptools", "wheel"):
        if default not in names:
            reqs.append(default)
    return reqs


def file_requirements(tree: Path, files: list[str], pins: list[str]) -> tuple[list[str], list[str]]:
    """(package names, extra pins) from requirement files in the source; the spec's pins win."""
    def key(req: str) -> str:
        return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower().replace("_", "-")

    pinned = {key(p) for p in pins}
    names: list[str] = []
    extra_pins: list[str] = []
    for rel in files:
        path = tree / rel
        if not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line or line.startswith("-"):
                continue
            names.append(key(line))
            if "==" in line and key(line) not in pinned:
                extra_pins.append(line.split(";")[0].strip())
    return names, extra_pins


def release_tree(archive: Path) -> Path:
    """The sdist unpacked as published, once per archive (under $DGM_HOME/pypi/trees): the tree
    the shared release environment installs, and every instance's starting point."""
    trees = dgm_home() / "pypi" / "trees"
    trees.mkdir(parents=True, exist_ok=True)
    tree = trees / archive.name
    done = trees / f"{archive.name}.complete"
    with build_lock(f"tree-{archive.name}"):
        if not done.is_file():
            if tree.exists():
                shutil.rmtree(tree)
            unpack(archive, tree)
            done.write_text(archive.name + "\n")
    return tree


def _fetch_dropping_conflicting_pins(wanted: list[str], pins: list[str], python: str) -> Path:
    """Pins are for the task's version series; a later release may need newer ones (pytest 4.6
    needs pluggy >= 0.12 where 4.5's spec pins 0.11): drop the pins pip names in a conflict."""
    for _attempt in range(4):
        try:
            return fetch_resolved(wanted, pins, python)
        except BenchError as exc:
            named = set(re.findall(r"\(constraint\) ([A-Za-z0-9_.\-]+)==", str(exc)))
            keep = [p for p in pins if p.split("==")[0].lower() not in {n.lower() for n in named}]
            if not named or keep == pins:
                raise
            pins = keep
    return fetch_resolved(wanted, pins, python)


def recipe_for_release(instance: TaskInstance, workdir: Path) -> EnvRecipe:
    """Rebuild `instance` from the first release that contains its fix; BenchError with the reason
    when it cannot be rebuilt."""
    repo = instance.repo
    project = project_for(repo)
    release, chosen_by, context = release_for(
        instance.instance_id, repo, instance.version, instance.patch, instance.test_patch,
        override=instance.extra.get("dgm_release"))
    spec = spec_for(repo, instance.version, release)
    directives = directives_for(repo, instance.test_patch)
    if not directives:
        raise BenchError("the test patch touches no test file to run")

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "source"
    if source.exists():
        shutil.rmtree(source)
    archive = download_sdist(project, release)
    release_dir = release_tree(archive)
    shutil.copytree(release_dir, source, symlinks=True)
    reverse_patches(source, instance.patch, instance.test_patch, context=context)
    # A later release can describe the fix in files no patch touches: strip its release notes,
    # and record what still names what only the fix defines.
    hints = clean_tree(source, instance.patch, instance.problem_statement, instance.version)

    python = PYTHON_OF_SUITE[spec.suite]
    # pip itself: the suite's venv pip may predate editable installs of pyproject projects.
    wanted = [f"{project}=={release}", *spec.extra, *build_requirements(source), "pip"]
    from_files, file_pins = file_requirements(source, spec.requirement_files, spec.pins)
    wanted += [n for n in from_files if n not in wanted]
    pins = spec.pins + file_pins
    if not any(f.filename.endswith(".whl") and f"-{release}-" in f.filename
               for f in release_files(project)):
        # An old release without a wheel: its own dependencies must come from the spec.
        wanted = wanted[1:]
    wheels = _fetch_dropping_conflicting_pins(wanted, pins, python)
    requirements = wheel_pins(wheels)

    # Files in the image carry no useful mtimes (1970); wheel builders refuse pre-1980 stamps
    # unless told which time to write.
    build_env = {"SOURCE_DATE_EPOCH": "946684800", **spec.build_env}
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in build_env.items())
    install_cmd = "\n".join([*spec.pre_install, (
        f"{prefix} {PY} -m pip install --no-index --no-deps --no-build-isolation --no-cache-dir -e .").strip(),
        *spec.post_install])
    if repo == "sympy/sympy":
        test_command = sympy_test_command(directives)
    else:
        test_command = f"{spec.test_runner} {' '.join(shlex.quote(d) for d in directives)}"
    return EnvRecipe(
        instance_id=instance.instance_id,
        source_dir=source,
        suite=spec.suite,
        wheels_dir=wheels,
        requirements=requirements,
        install_cmd=install_cmd,
        test_command=test_command,
        log_parser=spec.log_parser,
        env=dict(spec.env),
        release_dir=release_dir,
        debian_packages=list(spec.debian_packages),
        environment_key=f"{project}-{release}-py{python}",
        notes={"release": release, "release_chosen_by": chosen_by, "project": project,
               "sdist": archive.name, "sdist_uploaded": release_upload_time(project, release),
               "python": python, "context_lines": context, "test_directives": directives,
               "hints": hints.to_dict()},
    )
