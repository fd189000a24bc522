"""`dgm archive ...`: create, grow, inspect and check an archive of agent variants."""

from __future__ import annotations

import argparse

from dgm.archive.commands import (
    cmd_add, cmd_diff, cmd_fsck, cmd_init, cmd_lineage, cmd_list, cmd_show,
)
from dgm.scheduler.verdicts import Verdict

STATUS_HELP = "admitted, pending or rejected:<reason>"
DIR_HELP = "archive (= run) directory"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `archive` command and its verbs."""
    p = subparsers.add_parser(
        "archive",
        help="create, grow, inspect and check an archive of agent variants",
        description="An archive (= a run directory) holds every agent variant as a git commit "
                    "(DIR/archive.git) and its record in a SQLite index (DIR/archive.sqlite).",
    )
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
    verbs = p.add_subparsers(dest="verb", metavar="VERB")

    v = verbs.add_parser("init", help="create an archive whose root node is a seed agent tree",
                         description="Create an archive in DIR; node 0 is the agent tree at --seed.")
    v.add_argument("dir", metavar="DIR", help="archive directory (new, or without an archive)")
    v.add_argument("--seed", metavar="PATH",
                   help="seed agent tree (default: agents_archive/seed of this checkout)")
    v.set_defaults(func=cmd_init)

    v = verbs.add_parser("add", help="import a hand-made variant as a child node",
                         description="Import the agent tree at --tree as a child of --parent.")
    v.add_argument("dir", metavar="DIR", help=DIR_HELP)
    v.add_argument("--parent", required=True, metavar="NODE", help="parent node id (not rejected)")
    v.add_argument("--tree", required=True, metavar="PATH", help="directory holding the agent tree")
    v.add_argument("--status", default="pending", help=f"{STATUS_HELP} (default: pending)")
    v.add_argument("--score", type=float, metavar="ALPHA",
                   help="score in [0, 1] for a variant without task results")
    v.add_argument("--task", metavar="TEXT", help="the improvement task that produced it")
    v.add_argument("--json", action="store_true", help="print the new record as JSON")
    v.set_defaults(func=cmd_add)

    v = verbs.add_parser("list", help="table of nodes", description="List the archive's nodes.")
    v.add_argument("dir", metavar="DIR", help=DIR_HELP)
    v.add_argument("--status", choices=("admitted", "rejected", "pending"),
                   help="only nodes with this status (rejected matches every reason)")
    v.add_argument("--verdict", choices=[v.value for v in Verdict], metavar="VERDICT",
                   help="only nodes with this verdict: " + ", ".join(repr(v.value) for v in Verdict))
    v.add_argument("--json", action="store_true", help="print the records as a JSON list")
    v.set_defaults(func=cmd_list)

    v = verbs.add_parser("show", help="one node's record and its diff against the parent",
                         description="Print a node's record and the diff from its parent's tree.")
    v.add_argument("dir", metavar="DIR", help=DIR_HELP)
    v.add_argument("node", metavar="NODE")
    v.add_argument("--json", action="store_true",
                   help="print the record (with the diff under \"diff\") as JSON")
    v.add_argument("--no-diff", action="store_true", help="leave the diff out")
    v.set_defaults(func=cmd_show)

    v = verbs.add_parser("diff", help="unified diff between two nodes' trees",
                         description="Unified diff from NODE_A's agent tree to NODE_B's.")
    v.add_argument("dir", metavar="DIR", help=DIR_HELP)
    v.add_argument("a", metavar="NODE_A")
    v.add_argument("b", metavar="NODE_B")
    v.set_defaults(func=cmd_diff)

    v = verbs.add_parser(
        "lineage", help="draw the lineage tree, or export the graph",
        description="Without --format, draw the tree in the terminal (status, score, generation, "
                    "children). json/graphml/dot write the graph (to --output or stdout); html/png "
                    "are rendered by the report module (default output DIR/lineage.<format>).",
    )
    v.add_argument("dir", metavar="DIR", help=DIR_HELP)
    v.add_argument("--format", choices=("tree", "json", "graphml", "dot", "html", "png"),
                   default="tree")
    v.add_argument("--output", "-o", metavar="FILE", help="write here instead of stdout")
    v.add_argument("--root", default="0", metavar="NODE", help="draw or export only this clade")
    v.add_argument("--depth", type=int, metavar="N", help="terminal tree: stop N levels down")
    v.set_defaults(func=cmd_lineage)

    v = verbs.add_parser(
        "fsck", help="check that the index and git agree",
        description="Check every index row against git (commit, ref, parent, generation, status, "
                    "score) and run git fsck on the objects. Exit 0 if clean, 1 with a list of "
                    "problems otherwise.",
    )
    v.add_argument("dir", metavar="DIR", help=DIR_HELP)
    v.add_argument("--fast", action="store_true", help="skip `git fsck` of the object store")
    v.add_argument("--json", action="store_true", help="print the report as JSON")
    v.set_defaults(func=cmd_fsck)
