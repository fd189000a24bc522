"""`dgm sandbox build|run|prune` and `dgm doctor` (argparse only; handlers import docker)."""

from __future__ import annotations

import argparse

SUITE_CHOICES = ("bookworm", "bullseye")


def _handler(name: str):  # noqa: ANN202 - returns an argparse handler
    def call(args: argparse.Namespace) -> int:
        from dgm.sandbox import commands

        return getattr(commands, name)(args)

    return call


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `sandbox` command with its verbs, and the top-level `doctor`."""
    p = subparsers.add_parser(
        "sandbox",
        help="build sandbox images, run a command in a sandbox, remove leftovers",
        description="Hardened offline sandboxes on Docker (default), rootless Podman or bubblewrap. "
                    "Images are built on this machine from a debootstrapped Debian root filesystem; "
                    "no registry is used.",
    )
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
    verbs = p.add_subparsers(dest="verb", metavar="VERB")

    v = verbs.add_parser(
        "build", help="build the base images that are missing (idempotent)",
        description="Build the Debian base sandbox images that are missing: debootstrap from the "
                    "apt mirror this machine is configured with, docker import, and a layer adding "
                    "the `agent` user. Images are tagged by a hash of their recipe; an up-to-date "
                    "image is not rebuilt. Needs root and debootstrap.",
    )
    v.add_argument("--suite", action="append", choices=SUITE_CHOICES,
                   help="Debian suite to build (repeatable; default: bookworm and bullseye)")
    v.add_argument("--extra-packages", metavar="PKG,PKG", default="",
                   help="comma-separated Debian packages added to the base (a separate image)")
    v.set_defaults(func=_handler("cmd_build"))

    v = verbs.add_parser(
        "run", help="run one command in a fresh sandbox and print its output and status",
        description="Run CMD in a fresh hardened sandbox (no network, no capabilities, read-only "
                    "root, user `agent`) and print its output, then its status on stderr. The exit "
                    "code is the command's; 124 if it timed out, 137 if killed for memory. "
                    "A single CMD argument runs under `bash -lc`.",
        epilog="example: dgm sandbox run --memory-mb 512 --timeout 30 -- 'python3 -V && id'",
    )
    v.add_argument("--image", help="image to run (default: the base image of --suite, built if missing)")
    v.add_argument("--suite", choices=SUITE_CHOICES, default="bookworm",
                   help="base image suite when --image is not given (default: bookworm)")
    v.add_argument("--memory-mb", type=int, default=2048, help="memory limit, MiB (default: 2048)")
    v.add_argument("--pids", type=int, default=512, help="process limit (default: 512)")
    v.add_argument("--cpus", type=float, default=1.0, help="CPU limit (default: 1.0)")
    v.add_argument("--timeout", type=float, default=600, help="seconds before the command is killed (default: 600)")
    v.add_argument("--output-bytes", type=int, default=1_000_000, help="output cap, bytes (default: 1000000)")
    v.add_argument("--disk-mb", type=int, default=2048, help="size of the /testbed tmpfs, MiB (default: 2048)")
    v.add_argument("--tmp-mb", type=int, default=512, help="size of /tmp, /home/agent, /io tmpfs, MiB (default: 512)")
    v.add_argument("--mount", action="append", default=[], metavar="HOST:CONTAINER[:rw]",
                   help="bind-mount a host directory (read-only unless :rw); repeatable")
    v.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="environment variable for the command (the host's never pass); repeatable")
    v.add_argument("--workdir", default="/testbed", help="working directory (default: /testbed)")
    v.add_argument("--backend", choices=("docker", "podman", "bwrap"),
                   help="sandbox backend: docker (default; or $DGM_SANDBOX_BACKEND), podman (rootless, "
                        "as an unprivileged user), bwrap (bubblewrap, daemonless); `dgm doctor` says "
                        "which work here")
    v.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD...", help="the command")
    v.set_defaults(func=_handler("cmd_run"))

    v = verbs.add_parser(
        "prune", help="remove sandbox containers left by dead dgm processes (or of one run), and "
                      "unpacked bubblewrap images no longer needed",
        description="Remove dgm sandbox containers whose host process is no longer alive; with "
                    "--run, only those of that run id. Containers of live processes stay, and so do "
                    "those of another host or PID namespace, unless --run is given with --force. "
                    "Without --run, also remove the images unpacked for bubblewrap "
                    "($DGM_HOME/bwrap) whose image the engine no longer has, and with --bwrap-keep N "
                    "all but the N most recently used; one a sandbox is running from always stays.",
    )
    v.add_argument("--run", metavar="RUN_ID", help="only containers labelled with this run id")
    v.add_argument("--force", action="store_true",
                   help="with --run: remove every container of the run, even of a live process")
    v.add_argument("--bwrap-keep", type=int, metavar="N",
                   help="keep only the N most recently used unpacked bubblewrap images (default: keep "
                        "all whose image still exists)")
    v.set_defaults(func=_handler("cmd_prune"))

    d = subparsers.add_parser(
        "doctor", help="check Docker, sandbox backends, images, disk and model settings; say what to fix",
        description="Check the Docker engine, which sandbox backends (docker, podman, bwrap) work "
                    "here and what to install for the others, the guarantees each holds, the "
                    "sandbox images, free disk, debootstrap and the model settings. Prints what to "
                    "do for each problem; exit 0 when nothing fails (warnings do not fail).",
    )
    d.add_argument("--no-smoke", action="store_true", help="skip starting a test sandbox")
    d.add_argument("--ray", metavar="ADDRESS", help="check a Ray cluster instead (HOST:PORT of its head): "
                   "Docker, images and sandbox slots of each node (needs pip install -e '.[ray]')")
    d.set_defaults(func=_handler("cmd_doctor"))
