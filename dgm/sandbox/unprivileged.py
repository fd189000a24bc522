"""The unprivileged account that runs the daemonless backends (rootless Podman, bubblewrap).

Run as an ordinary user, dgm uses that user. Run as root, it drops to $DGM_SANDBOX_USER
(default `dgm-sandbox`) for these backends: neither needs root, and neither should have it.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

DEFAULT_USER = "dgm-sandbox"


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: str

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()

    def popen_kwargs(self) -> dict:
        """subprocess.Popen keywords that run a child as this account (nothing when we are it)."""
        if self.is_self:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def runtime_dir(self) -> Path:
        """A private directory for this account's sockets (XDG_RUNTIME_DIR when it is ours)."""
        if self.is_self and os.environ.get("XDG_RUNTIME_DIR"):
            return Path(os.environ["XDG_RUNTIME_DIR"])
        login = Path(f"/run/user/{self.uid}")
        if login.is_dir() and login.stat().st_uid == self.uid:
            return login
        path = Path(f"/tmp/dgm-run-{self.uid}")
        try:
            path.mkdir(mode=0o700)
            if not self.is_self:
                os.chown(path, self.uid, self.gid)
        except FileExistsError:
            pass
        st = path.lstat()
        if st.st_uid != self.uid or (st.st_mode & 0o077) or not path.is_dir() or path.is_symlink():
            raise PermissionError(f"{path} is not a private directory of {self.name}")
        return path

    def env(self) -> dict[str, str]:
        """A minimal environment for this account's processes (the host's variables never pass)."""
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name,
                "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
                "XDG_RUNTIME_DIR": str(self.runtime_dir())}


def sandbox_account() -> Account | None:
    """The account the daemonless backends run as, or None if it does not exist."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
    else:
        name = os.environ.get("DGM_SANDBOX_USER") or DEFAULT_USER
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return None
        if entry.pw_uid == 0:
            return None
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def account_hint() -> str:
    return (f"create an unprivileged user for sandboxes: `useradd --create-home {DEFAULT_USER}` "
            "(or set DGM_SANDBOX_USER), or run dgm as an ordinary user")
