"""`dgm doctor`: is this machine ready to run dgm? Each problem comes with what to do."""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from dgm.errors import DgmError
from dgm.home import dgm_home
from dgm.terminal import inert

# Host variables that litellm reads for common providers (names only are ever printed).
PROVIDER_KEYS = (
    "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "GEMINI_API_KEY", "AZURE_API_KEY", "MISTRAL_API_KEY",
    "GROQ_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY", "TOGETHERAI_API_KEY", "XAI_API_KEY",
    "COHERE_API_KEY", "AWS_ACCESS_KEY_ID",
)
DISK_FAIL_GB, DISK_WARN_GB = 2.0, 10.0


@dataclass
class Check:
    level: str  # "ok" | "warn" | "FAIL"
    what: str
    fix: str = ""


def _disk(label: str, path: Path) -> Check:
    try:
        free = shutil.disk_usage(path).free / 2**30
    except OSError:
        return Check("warn", f"free disk under {label} ({path}): cannot see it from here")
    if free < DISK_FAIL_GB:
        return Check("FAIL", f"free disk under {label} ({path}): {free:.1f} GiB",
                     "free space (images and builds need several GiB); `dgm sandbox prune`")
    level = "warn" if free < DISK_WARN_GB else "ok"
    return Check(level, f"free disk under {label} ({path}): {free:.1f} GiB",
                 "environment images for many tasks need tens of GiB" if level == "warn" else "")


def _engine_checks(smoke: bool) -> list[Check]:
    from dgm.sandbox.backends import missing, resolve_backend, use_backend
    from dgm.sandbox.engine import docker_client

    try:
        client = docker_client()
        info = client.info()
        version = client.version().get("Version", "?")
    except DgmError as exc:
        if missing("podman") is None:  # images are built and kept by rootless Podman instead
            if resolve_backend() == "docker":
                use_backend("podman")  # the smoke test, and its clean-up, on Podman
            return [Check("warn", f"Docker engine: {exc.message}; rootless Podman builds and keeps the images",
                          "the podman and bwrap backends work without it"), *_image_checks(smoke, resolve_backend())]
        return [Check("FAIL", f"Docker engine: {exc.message}",
                      "start the Docker daemon (and make its socket readable), or set DOCKER_HOST")]
    checks = [Check("ok", f"Docker engine {version} ({info.get('Driver')}, cgroup v{info.get('CgroupVersion', '?')})")]
    if not shutil.which("docker-init") and not info.get("InitBinary"):
        checks.append(Check("warn", "docker-init not found", "install tini/docker-init; sandboxes use --init"))
    checks.append(_disk("the Docker root", Path(info.get("DockerRootDir", "/var/lib/docker"))))
    return [*checks, *_image_checks(smoke, None)]


def _image_checks(smoke: bool, backend: str | None) -> list[Check]:
    from dgm.sandbox.engine import image_exists
    from dgm.sandbox.images import base_image_tag

    checks = []
    present = {}
    for suite, required in (("bookworm", True), ("bullseye", False)):
        tag = base_image_tag(suite)
        present[suite] = image_exists(tag)
        if present[suite]:
            checks.append(Check("ok", f"base image {tag}"))
        else:
            checks.append(Check("FAIL" if required else "warn", f"base image {tag} is missing",
                                f"run `dgm sandbox build --suite {suite}` (about a minute; needs root)"
                                + ("" if required else "; needed for repositories on Python 3.9")))
    if smoke and present["bookworm"]:
        checks.append(_smoke(base_image_tag("bookworm"), backend))
    return checks


def _smoke(image: str, backend: str | None) -> Check:
    from dgm.sandbox.driver import Limits, Sandbox, sweep

    run_id = f"doctor-{os.getpid()}"
    started = time.monotonic()
    try:
        with Sandbox.start(image, run_id=run_id, limits=Limits(wall_seconds=120), backend=backend) as box:
            res = box.exec(["python3", "-c", "print('ok')"], timeout=60)
    except DgmError as exc:
        return Check("FAIL", f"test sandbox: {exc}", "see `dgm sandbox run -- true` with --debug")
    finally:
        sweep(run_id)
    if not res.ok or res.output.strip() != "ok":
        return Check("FAIL", f"test sandbox: {res.status()}: {res.output[-300:]}",
                     "rebuild the base image: `dgm sandbox build`")
    return Check("ok", f"test sandbox ({box.backend}) ran python3 in {time.monotonic() - started:.2f} s")


def _backend_checks() -> list[Check]:
    """Which sandbox backends work here, what each lacks, and where one holds less than Docker."""
    from dgm.sandbox.backends import BACKENDS, INSTALL, missing
    from dgm.sandbox.guarantees import weakened

    checks = []
    for name in BACKENDS:
        why = missing(name)
        if why is not None:
            checks.append(Check("warn",
                                f"sandbox backend {name}: not available ({why})", INSTALL[name]))
            continue
        checks.append(Check("ok", f"sandbox backend {name}: available"))
        if name == "bwrap":
            from dgm.sandbox.cgroups import cgroup_parent

            parent = cgroup_parent()
            if parent is not None:
                checks.append(Check("ok", f"sandbox backend bwrap: {', '.join(sorted(parent.controllers))} "
                                          f"limits in a cgroup (v{parent.version}) per sandbox"))
        for guarantee, how in weakened(name).items():
            fix = "use the docker backend where this matters" if how.startswith("not held") else ""
            if name == "bwrap":
                from dgm.sandbox.cgroups import cgroups_turned_off

                fix = ("unset DGM_SANDBOX_CGROUPS (it turns bubblewrap's cgroups off)" if cgroups_turned_off()
                       else "let dgm create cgroups: run it as root, or delegate a cgroup v2 subtree with "
                            "the memory, pids and cpu controllers to its user (systemd: Delegate=yes)")
            checks.append(Check("warn", f"sandbox backend {name}: {guarantee}: {how}", fix))
    return checks


def _host_checks() -> list[Check]:
    checks = []
    if shutil.which("debootstrap"):
        checks.append(Check("ok", "debootstrap installed"))
    else:
        checks.append(Check("warn", "debootstrap not installed (needed only to build base images)",
                            "apt-get install debootstrap"))
    checks.append(_disk("DGM_HOME", dgm_home()))
    return checks


def _model_checks() -> list[Check]:
    checks = []
    if importlib.util.find_spec("litellm") is None:
        checks.append(Check("FAIL", "litellm is not installed", "pip install -e . (it is a dependency)"))
    keys = [name for name in PROVIDER_KEYS if os.environ.get(name)]
    if keys:
        checks.append(Check("ok", f"provider keys set on the host: {', '.join(keys)} (never passed into sandboxes)"))
    else:
        checks.append(Check("warn", "no provider API key variable is set on the host",
                            "export e.g. ANTHROPIC_API_KEY or OPENAI_API_KEY and name the model with "
                            "`dgm evolve -c models.task.model=PROVIDER/NAME`, or point "
                            "models.task.api_base at a local OpenAI-compatible server"))
    return checks


def run_checks(*, smoke: bool = True) -> int:
    """Print every check; 0 when none failed."""
    checks = [*_engine_checks(smoke), *_backend_checks(), *_host_checks(), *_model_checks()]
    for c in checks:
        print(f"{c.level:<4} {inert(c.what, lines=False)}")  # a failed smoke run quotes the sandbox
        if c.fix and c.level != "ok":
            print(f"     fix: {inert(c.fix, lines=False)}")
    failed = sum(c.level == "FAIL" for c in checks)
    warned = sum(c.level == "warn" for c in checks)
    print(f"\n{'not ready' if failed else 'ready'}: {failed} failed, {warned} warning{'s' if warned != 1 else ''}")
    return 1 if failed else 0
