"""Every git the engine runs on the host, with every configuration source pinned.

git reads configuration, attributes, hooks and even the repository itself from places the
caller does not name: the system and global config, $HOME, the environment (GIT_*), the
working directory (discovery: a directory holding HEAD, objects/ and refs/ *is* a repository
to git), `.gitattributes` in a work tree. A tree that came out of a sandbox can plant any of
those, and a config with a filter driver, an fsmonitor or a hooks path runs a command. So
git on the host runs only here: against a repository the engine made (explicit --git-dir,
never discovery), with an environment built from nothing, no system/global config, no
hooks, no fsmonitor, no attributes but the engine's, no network protocols.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from dgm.errors import DgmError

# The empty tree: git knows it without it being stored. As attr.tree it makes git read
# attributes from nothing instead of a work tree's .gitattributes.
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

# The whole config of a repository the engine makes: nothing inherited from a template.
ENGINE_CONFIG = """\
[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = true
[gc]
\tauto = 0
[maintenance]
\tauto = false
"""

# Pins on the command line win over every file, the repository's own config included.
PINNED = (
    "-c", "core.hooksPath=/dev/null",
    "-c", "core.fsmonitor=false",
    "-c", "core.attributesFile=/dev/null",
    "-c", "core.excludesFile=/dev/null",
    "-c", "core.untrackedCache=false",
    "-c", "core.quotepath=off",
    "-c", "core.pager=cat",
    "-c", "protocol.allow=never",
    "-c", "credential.helper=",
    "-c", "log.showSignature=false",
    "-c", "gc.auto=0",
    "-c", "maintenance.auto=false",
)

_home_lock = threading.Lock()
_home: Path | None = None


class HostGitError(DgmError):
    """git on the host could not be started or timed out."""


def _empty_home() -> Path:
    """A private empty directory for HOME and XDG_CONFIG_HOME (no ~/.gitconfig, no git/config)."""
    global _home
    with _home_lock:
        if _home is None or not _home.is_dir():
            _home = Path(tempfile.mkdtemp(prefix="dgm-git-home-"))
            atexit.register(shutil.rmtree, _home, True)
        return _home


def git_env() -> dict[str, str]:
    """The environment of every host git: built from nothing, so no GIT_* of the caller leaks in."""
    home = str(_empty_home())
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "HOME": home,
        "XDG_CONFIG_HOME": home,
        "LC_ALL": "C",  # messages parsed (fsck) are git's untranslated ones
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_SYSTEM": os.devnull,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_CEILING_DIRECTORIES": "/",
        "GIT_NO_REPLACE_OBJECTS": "1",  # refs/replace could make an object read as another
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_PAGER": "cat",
    }


def run_git(git_dir: Path, *args: str, input: bytes | None = None, work_tree: Path | None = None,
            timeout: float | None = None, attr_tree: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run `git ARGS` against the engine's repository GIT_DIR (never a discovered one).

    With WORK_TREE, git runs in that directory and treats it as the work tree; its
    .gitattributes are replaced by the empty tree's unless `attr_tree` is False (git apply
    crashes with attr.tree in git 2.47; it reads attributes only for filters and
    conversions, and no filter driver can be configured here).
    """
    cmd = ["git", "--no-pager", "--git-dir", str(git_dir)]
    if work_tree is not None:
        cmd += ["--work-tree", str(work_tree)]
    cmd += list(PINNED)
    if attr_tree:
        cmd += ["-c", f"attr.tree={EMPTY_TREE}"]
    cmd += list(args)
    try:
        return subprocess.run(cmd, input=input, capture_output=True, env=git_env(), timeout=timeout,
                              cwd=str(work_tree) if work_tree is not None else str(git_dir),
                              stdin=None if input is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise HostGitError("git is not installed on this host",
                           hint="install git (apt-get install git)") from None
    except subprocess.TimeoutExpired:
        raise HostGitError(f"git {' '.join(args[:1])} in {git_dir} did not finish in {timeout} s") from None


def init_bare(path: Path) -> None:
    """Create (or reuse) a bare repository at PATH whose config is the engine's alone."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    # --template= : no hooks, no info/ files, nothing copied from the system's template dir.
    proc = run_git(path, "init", "--bare", "--template=", "-q", attr_tree=False)
    if proc.returncode != 0:
        raise HostGitError(f"git init in {path} failed: {proc.stderr.decode(errors='replace').strip()}")
    tmp = path / "config.dgm-tmp"
    tmp.write_text(ENGINE_CONFIG, encoding="utf-8")
    os.replace(tmp, path / "config")


_scratch_lock = threading.Lock()
_scratch: Path | None = None


def scratch_git_dir() -> Path:
    """An empty engine-made repository, for commands that want one (git apply in a plain tree)."""
    global _scratch
    with _scratch_lock:
        if _scratch is None or not (_scratch / "HEAD").is_file():
            _scratch = Path(tempfile.mkdtemp(prefix="dgm-git-scratch-"))
            atexit.register(shutil.rmtree, _scratch, True)
            init_bare(_scratch)
        return _scratch


def apply_in(tree: Path, patch: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`git apply ARGS` of PATCH to the files under TREE, as plain files (no index, no discovery).

    For trees the engine itself unpacked (release archives); trees from a sandbox are
    patched in Python (dgm.diffapply), never by git.
    """
    tree = Path(tree).resolve()
    data = (patch if patch.endswith("\n") else patch + "\n").encode("utf-8", "surrogateescape")
    proc = run_git(scratch_git_dir(), "apply", "--whitespace=nowarn", *args, "-", input=data,
                   work_tree=tree, timeout=timeout, attr_tree=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"),
                                       proc.stderr.decode(errors="replace"))
