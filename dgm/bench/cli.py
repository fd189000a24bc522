"""`dgm bench ...`: build, validate, grade and list SWE-bench-format task environments."""

from __future__ import annotations

import argparse

STORE_HELP = "bench store directory: manifest.json, logs, saved rows (default: $DGM_HOME/bench)"


def _handler(name: str):
    def call(args: argparse.Namespace) -> int:
        from dgm.bench import commands

        return getattr(commands, name)(args)
    return call


def _selection(v: argparse.ArgumentParser) -> None:
    v.add_argument("--instance", action="append", default=[], metavar="ID", help="only this instance (repeatable)")
    v.add_argument("--repo", action="append", default=[], metavar="REPO",
                   help="only instances of this repository, e.g. pallets/flask (repeatable)")
    v.add_argument("--subset", metavar="FILE", help="only the ids in FILE (a JSON list of instance ids)")
    v.add_argument("--slice", metavar="A:B", help="then keep rows A..B-1 of the selection, e.g. 0:10")


def _environments(v: argparse.ArgumentParser) -> None:
    g = v.add_argument_group("official images (SWE-bench's evaluation images from a registry)")
    g.add_argument("--environments", choices=("auto", "official", "rebuild"), default="auto",
                   help="auto (default): the official image when it is local or can be pulled, else the offline "
                        "rebuild; official: only official images (an instance without one is an error, exit 2); "
                        "rebuild: only the offline rebuild")
    g.add_argument("--official", action="store_true", help="same as --environments official")
    g.add_argument("--image-namespace", default="swebench", metavar="NS",
                   help="where classic rows' images are: NS/sweb.eval.x86_64.<id with __ as _1776_>:TAG "
                        "(default swebench; HOST:PORT/swebench for a registry of your own)")
    g.add_argument("--image-tag", default="latest", metavar="TAG", help="tag of classic rows' images (default latest)")
    g.add_argument("--pull-jobs", type=int, default=2, metavar="N", help="images pulled at once (default 2)")
    g.add_argument("--dry-run", action="store_true",
                   help="pull and build nothing: per instance, which path it would take and how many bytes a "
                        "pull would transfer (from the registry's manifests), then the total and the free disk")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `bench` command and its verbs."""
    p = subparsers.add_parser(
        "bench", help="SWE-bench-format tasks: official images or offline environments, validate, grade",
        description="Build task environment images: SWE-bench's official evaluation images when a registry "
                    "has them, else without a registry (local sources, PyPI releases); validate them, and "
                    "grade predictions with swebench's parsers and get_eval_report.",
    )
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
    verbs = p.add_subparsers(dest="verb", metavar="VERB")

    v = verbs.add_parser("build", help="build and validate environments for instances of a dataset",
                         description="For each selected instance: take its official image (local or pulled; "
                                     "classic rows get the image name and eval script the SWE-bench harness "
                                     "derives) or make an offline recipe and build its image (cached), validate "
                                     "it, and record the result and the path taken in the manifest. Exits 1 when any "
                                     "selected instance was refused, failed to build or failed validation, "
                                     "naming each with its reason on stderr.")
    v.add_argument("--dataset", required=True, metavar="FILE",
                   help="SWE-bench rows: .json or .jsonl (a hub dataset name works only when a hub is reachable)")
    _selection(v)
    v.add_argument("--store", metavar="DIR", help=STORE_HELP)
    v.add_argument("--jobs", type=int, default=1, metavar="N", help="instances built at once (default 1)")
    v.add_argument("--no-validate", action="store_true", help="build images only; status stays 'built'")
    v.add_argument("--rebuild", action="store_true",
                   help="also redo instances the manifest already has as validated")
    _environments(v)
    v.set_defaults(func=_handler("cmd_build"))

    v = verbs.add_parser("validate", help="re-check built instances (before fails, gold resolves)",
                         description="Run validation again for instances in the manifest. A refused "
                                     "or unbuilt instance keeps its reason; exits 1 when any instance "
                                     "is not validated, naming each with its reason on stderr.")
    v.add_argument("--store", metavar="DIR", help=STORE_HELP)
    v.add_argument("--instance", action="append", default=[], metavar="ID",
                   help="only this instance (repeatable; default: every built instance)")
    v.add_argument("--dataset", metavar="FILE", help="SWE-bench rows (default: rows saved at build time)")
    v.add_argument("--jobs", type=int, default=1, metavar="N", help="instances validated at once (default 1)")
    v.set_defaults(func=_handler("cmd_validate"))

    v = verbs.add_parser("grade", help="grade a predictions file; prints resolved/total",
                         description="Grade each prediction in a fresh sandbox and write the harness's "
                                     "files: OUT/<run_id>/<model>/<instance>/{report.json,test_output.txt,"
                                     "patch.diff} and OUT/<model>.<run_id>.json.")
    v.add_argument("--predictions", required=True, metavar="FILE",
                   help="JSONL of {instance_id, model_name_or_path, model_patch}")
    v.add_argument("--dataset", metavar="FILE", help="SWE-bench rows (default: rows saved at build time)")
    v.add_argument("--store", metavar="DIR", help=STORE_HELP)
    v.add_argument("--out", metavar="DIR", help="output directory (default: STORE/evaluations)")
    v.add_argument("--run-id", metavar="ID", help="evaluation run id (default: a timestamp)")
    v.add_argument("--jobs", type=int, default=1, metavar="N", help="predictions graded at once (default 1)")
    v.add_argument("--json", action="store_true", help="print the run summary as JSON")
    v.set_defaults(func=_handler("cmd_grade"))

    v = verbs.add_parser("list", help="show the manifest", description="List built instances and their status; the leaks column marks instances whose "
                              "tree still names what only the fix defines (evolve skips them).")
    v.add_argument("--store", metavar="DIR", help=STORE_HELP)
    v.add_argument("--status", metavar="STATUS", help="only this status: validated, failed, failed:<reason>, built")
    v.add_argument("--json", action="store_true", help="print the manifest rows as JSON")
    v.set_defaults(func=_handler("cmd_list"))
