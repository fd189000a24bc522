"""Self-modification: the parent agent edits a copy of its own code in a sandbox; the patch comes
back as data and is applied on the host, in Python, to a fresh copy of the parent's tree."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from dgm.archive.names import forbidden_in_path
from dgm.archive.snapshot import TreeRefused, check_tree
from dgm.diffapply import apply_diff
from dgm.diffs import DiffRefused, FileDiff, parse_diff
from dgm.errors import AgentFailure
from dgm.evolve.items import AgentOutcome, SelfModifyItem

MAX_PATCH_BYTES = 5_000_000
# Build residue the agent may leave while testing itself; never part of a child.
EXCLUDE = "__pycache__/\n*.pyc\n.pytest_cache/\n"


def run_selfmod(item: SelfModifyItem, context: Any) -> AgentOutcome:
    """Run the parent on its own code (the only code in its sandbox) with the diagnosis as its task."""
    from dgm.agent import AgentLimits, run_agent
    from dgm.sandbox import Limits

    def setup(box: Any) -> None:
        box.put_tree(item.parent_tree, "/testbed")
        box.put_file("/tmp/dgm-exclude", EXCLUDE.encode())
        result = box.exec(
            "cd /testbed && git init -q && cp /tmp/dgm-exclude .git/info/exclude && git add -A && "
            "git -c user.name=dgm -c user.email=dgm@localhost commit -q -m parent --no-gpg-sign",
            timeout=120)
        if not result.ok:
            raise AgentFailure(f"could not prepare the agent's own code as a repository: {result.output[-500:]}")

    run = run_agent(
        item.parent_tree, image=context.agent_image(), problem_statement=item.problem_statement,
        instance_id=f"selfmod-{item.key}", relay=context.relay, run_id=context.run_id, account=item.account,
        limits=AgentLimits(max_steps=item.limits.max_steps, max_seconds=item.limits.max_seconds,
                           max_usd=item.limits.max_usd),
        sandbox_limits=Limits(memory_mb=item.box.memory_mb, cpus=item.box.cpus, pids=item.box.pids,
                              wall_seconds=item.limits.max_seconds + 300),
        repo_setup=setup, out_dir=item.out_dir, role="selfmod")
    return AgentOutcome(run.status, run.patch or "", run.trajectory, dict(run.usage or {}), run.log or "",
                        float(run.seconds or 0.0), reason=run.reason)


class PatchRefused(DiffRefused):
    """A patch from a sandbox that the host will not apply, or whose result may not be a child.

    `reason` is what the child's node records ("rejected:<reason>").
    """

    def __init__(self, message: str, *, reason: str = "patch refused", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


def check_patch(patch: str) -> list[FileDiff]:
    """The patch's blocks, if it is small enough, readable, and names only paths a child may hold."""
    if len(patch.encode()) > MAX_PATCH_BYTES:
        raise PatchRefused(f"the self-modification patch is larger than {MAX_PATCH_BYTES} bytes")
    try:
        files = parse_diff(patch)
    except DiffRefused as exc:
        raise PatchRefused(f"the self-modification patch is refused: {exc}") from None
    for block in files:
        for path in block.paths:
            forbidden = forbidden_in_path(path)
            if forbidden:
                raise PatchRefused(f"the patch names {path!r}, a name no agent tree may hold",
                                   reason=f"forbidden name in tree: {forbidden}")
    return files


def apply_patch(parent_tree: Path, patch: str, dest: Path) -> Path:
    """Copy `parent_tree` to `dest` and apply `patch` there in Python; the result must be a tree
    the archive accepts. No git runs: the parent's tree came out of a sandbox too."""
    files = check_patch(patch) if patch.strip() else []
    # Links are copied as links (the archive holds only in-tree ones); apply_diff never follows them.
    shutil.copytree(parent_tree, dest, symlinks=True)
    try:
        apply_diff(dest, files)
        check_tree(dest)
    except (DiffRefused, TreeRefused) as exc:
        # A refused tree is not left on the host where a git prompt or a user's tool could read it.
        shutil.rmtree(dest, ignore_errors=True)
        if isinstance(exc, TreeRefused):
            raise PatchRefused(f"the patched tree is refused: {exc.message}", reason=exc.reason) from None
        raise PatchRefused(f"the self-modification patch does not apply: {exc}") from None
    return dest
