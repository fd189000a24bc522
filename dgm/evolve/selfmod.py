"""Self-modification: the parent agent edits a copy of its own code in a sandbox; the patch comes
back as data and is applied on the host to a fresh checkout the loop made."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

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


_DIFF_HEADER = re.compile(r"^diff --git a/(.+?) b/(.+)$")
_PATH_LINES = ("--- ", "+++ ", "rename from ", "rename to ", "copy from ", "copy to ")


class PatchRefused(AgentFailure):
    """A patch from a sandbox that the host will not apply (size, paths, links)."""


def patch_paths(patch: str) -> list[str]:
    """Every path a patch names (headers, ---/+++ lines, renames)."""
    paths: list[str] = []
    for line in patch.splitlines():
        m = _DIFF_HEADER.match(line)
        if m:
            paths += [m.group(1), m.group(2)]
            continue
        for prefix in _PATH_LINES:
            if line.startswith(prefix):
                value = line[len(prefix):].split("\t")[0].strip()
                if value != "/dev/null":
                    if prefix in ("--- ", "+++ ") and value[:2] in ("a/", "b/"):
                        value = value[2:]
                    paths.append(value)
    return paths


def check_patch(patch: str) -> None:
    """Refuse patches that are too large, leave the tree, touch .git, or create links."""
    if len(patch.encode()) > MAX_PATCH_BYTES:
        raise PatchRefused(f"the self-modification patch is larger than {MAX_PATCH_BYTES} bytes")
    for path in patch_paths(patch):
        parts = Path(path).parts
        if path.startswith(("/", '"')) or ".." in parts or (parts and parts[0] == ".git") or not parts:
            raise PatchRefused(f"the patch names a path outside the agent tree: {path!r}")
    for line in patch.splitlines():
        if re.match(r"^(new file mode|new mode|old mode|deleted file mode) 120000", line):
            raise PatchRefused("the patch creates a symbolic link")


def apply_patch(parent_tree: Path, patch: str, dest: Path) -> Path:
    """Copy `parent_tree` to `dest` and apply `patch` there with git (outside any repository)."""
    check_patch(patch)
    import shutil

    shutil.copytree(parent_tree, dest, symlinks=False)
    if not patch.strip():
        return dest
    with tempfile.NamedTemporaryFile("w", suffix=".diff", delete=False) as fh:
        fh.write(patch if patch.endswith("\n") else patch + "\n")
        patch_file = fh.name
    try:
        # Outside a repository `git apply` works as a careful `patch`: it refuses paths that
        # leave the directory and does not follow links. The ceiling stops repository discovery.
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env["GIT_CEILING_DIRECTORIES"] = str(dest.parent)
        proc = subprocess.run(["git", "apply", "--whitespace=nowarn", "-p1", patch_file], cwd=dest,
                              env=env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise PatchRefused(f"the self-modification patch does not apply: {proc.stderr.strip()[-500:]}")
    finally:
        os.unlink(patch_file)
    for link in [p for p in dest.rglob("*") if p.is_symlink()]:
        raise PatchRefused(f"the patched tree holds a symbolic link {shlex.quote(str(link.relative_to(dest)))}")
    return dest
