"""Handlers of `dgm sandbox ...` and `dgm doctor`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from dgm.errors import BadInput
from dgm.terminal import inert

SUITES_DEFAULT = ("bookworm", "bullseye")


def cmd_build(args: argparse.Namespace) -> int:
    from dgm.sandbox.images import ensure_base_image

    extra = [p.strip() for p in args.extra_packages.split(",") if p.strip()]
    for suite in args.suite or SUITES_DEFAULT:
        tag = ensure_base_image(suite, extra_packages=extra)
        print(f"{suite}: {tag}")
    return 0


def _limits(args: argparse.Namespace):  # noqa: ANN202 - dgm.sandbox.driver.Limits
    from dgm.sandbox.driver import Limits

    for name in ("memory_mb", "pids", "cpus", "timeout", "output_bytes", "disk_mb", "tmp_mb"):
        if getattr(args, name) <= 0:
            raise BadInput(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    return Limits(memory_mb=args.memory_mb, pids=args.pids, cpus=args.cpus,
                  wall_seconds=args.timeout + 60, exec_seconds=args.timeout,
                  output_bytes=args.output_bytes, disk_mb=args.disk_mb, tmp_mb=args.tmp_mb)


def _mounts(specs: list[str]):  # noqa: ANN202 - list[Mount]
    from dgm.sandbox.driver import Mount

    mounts = []
    for spec in specs:
        parts = spec.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            raise BadInput(f"--mount {spec!r} is not HOST:CONTAINER[:rw]")
        host = Path(parts[0]).expanduser()
        if not host.exists():
            raise BadInput(f"--mount {spec!r}: {host} does not exist")
        if not parts[1].startswith("/"):
            raise BadInput(f"--mount {spec!r}: the container path must be absolute")
        mounts.append(Mount(host, parts[1], read_only=len(parts) == 2 or parts[2] == "ro"))
    return mounts


def _env(specs: list[str]) -> dict[str, str]:
    env = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not name:
            raise BadInput(f"--env {spec!r} is not NAME=VALUE")
        env[name] = value
    return env


def cmd_run(args: argparse.Namespace) -> int:
    from dgm.sandbox.driver import Sandbox, sweep
    from dgm.sandbox.images import ensure_base_image

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise BadInput("no command given", hint="dgm sandbox run -- CMD...")
    from dgm.sandbox.backends import require_backend, resolve_backend

    backend = resolve_backend(args.backend)
    require_backend(backend)
    limits = _limits(args)
    mounts, env = _mounts(args.mount), _env(args.env)
    image = args.image or ensure_base_image(args.suite)
    run_id = f"cli-{os.getpid()}"
    try:
        with Sandbox.start(image, run_id=run_id, limits=limits, mounts=mounts, env=env,
                           workdir=args.workdir, backend=backend) as box:
            res = box.exec(cmd[0] if len(cmd) == 1 else cmd, timeout=args.timeout)
    finally:
        sweep(run_id)
    # The command's output is the sandbox's: control sequences are shown, not passed to the terminal.
    sys.stdout.write(inert(res.output))
    if res.output and not res.output.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()
    note = " (output truncated)" if res.truncated else ""
    print(f"[sandbox] {res.status()} after {res.duration:.2f} s{note}", file=sys.stderr)
    if res.timed_out:
        return 124
    if res.oom_killed:
        return 137
    return res.exit_code if res.exit_code is not None else 1


def cmd_prune(args: argparse.Namespace) -> int:
    from dgm.sandbox.driver import sweep

    if args.force and not args.run:
        raise BadInput("--force needs --run RUN_ID", hint="name the run whose containers must all go")
    keep = getattr(args, "bwrap_keep", None)
    if keep is not None and (keep < 0 or args.run):
        raise BadInput(f"--bwrap-keep {keep}: " + ("not with --run" if args.run else "must be 0 or more"),
                       hint="`dgm sandbox prune --bwrap-keep N` with N >= 0, without --run")
    count = sweep(args.run, force=args.force)
    what = (f"of run {args.run}" + ("" if args.force else " left by dead dgm processes")) if args.run \
        else "left by dead dgm processes"
    print(f"removed {count} sandbox container{'s' if count != 1 else ''} {what}")
    if not args.run:
        from dgm.sandbox.unpack import prune_unpacked

        removed = prune_unpacked(keep)
        size = sum(b for _, b in removed) / 1e6
        print(f"removed {len(removed)} unpacked bubblewrap image{'s' if len(removed) != 1 else ''} ({size:.0f} MB)")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    if getattr(args, "ray", None):
        from dgm.ray.doctor import run_ray_checks

        return run_ray_checks(args.ray)
    from dgm.sandbox.doctor import run_checks

    return run_checks(smoke=not args.no_smoke)
