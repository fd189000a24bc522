"""A persistent bash session: cwd and exports survive between commands; each has a timeout."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from typing import Optional


def clip(text: str, limit: int, total: Optional[int] = None) -> str:
    """Keep the head and tail of a long text, saying how much was left out."""
    total = len(text) if total is None else total
    if len(text) <= limit and total <= len(text):
        return text
    head, tail = limit * 2 // 3, limit // 3
    return (text[:head] + "\n\n[... output truncated: showing the first %d and last %d of about %d "
            "characters ...]\n\n" % (head, tail, total) + text[-tail:])


class BashSession:
    """One long-lived bash process; a command that times out kills and restarts it."""

    def __init__(self, cwd: str, timeout: float = 120.0, max_output: int = 10000) -> None:
        self.cwd = cwd
        self.timeout = timeout
        self.max_output = max_output
        self.proc: Optional[subprocess.Popen] = None
        self.scratch = ""  # made by start(), removed by close(): a session leaves nothing behind
        self.marker = "__CMD_DONE_%s__" % uuid.uuid4().hex

    def start(self) -> None:
        if not self.scratch:
            self.scratch = tempfile.mkdtemp(prefix="agent-bash-")
        env = dict(os.environ, PAGER="cat", GIT_PAGER="cat", TERM="dumb", PYTHONUNBUFFERED="1")
        env.pop("DGM_RELAY_TOKEN", None)  # commands the model runs do not need the token
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=self.cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        self.proc = None
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = ""

    def run(self, command: str, timeout: Optional[float] = None) -> str:
        """Run a command in the session; return its output (stdout+stderr) and exit code."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        limit = self.timeout if timeout is None else timeout
        # The command goes through a file and `source`, so a syntax error is reported
        # instead of leaving bash waiting for the rest of an unclosed quote.
        script = os.path.join(self.scratch, "cmd.sh")
        with open(script, "w") as fh:
            fh.write(command + "\n")
        line = "source %s < /dev/null 2>&1; __rc=$?; echo; echo %s $__rc\n" % (script, self.marker)
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(line.encode())
            self.proc.stdin.flush()
        except OSError:
            self.close()
            return "[the shell had exited; it was restarted — please run the command again]"
        out, status, total = self._read_until_marker(time.monotonic() + limit)
        if status == "timeout":
            self.close()
            return (clip(out, self.max_output, total) + "\n[command timed out after %ds and was killed; "
                    "the shell was restarted: cwd and environment variables are reset]" % limit)
        if status == "exited":
            self.close()
            return clip(out, self.max_output, total) + "\n[the shell exited; a fresh one starts with the next command]"
        return clip(out, self.max_output, total) + "\n[exit code: %s]" % status

    def _read_until_marker(self, deadline: float):
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        # Keep the head and a rolling tail so a command printing gigabytes cannot fill memory.
        cap = max(self.max_output * 2, 65536)
        head, tail, dropped = bytearray(), bytearray(), 0
        seen = 0
        window = b""  # the last bytes seen, to spot the end marker across chunk boundaries
        needle = ("\n" + self.marker + " ").encode()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return _decode(head, tail, dropped), "timeout", seen
            ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return _decode(head, tail, dropped), "exited", seen
            seen += len(chunk)
            window = (window + chunk)[-(len(needle) + 16):]
            if len(head) < cap:
                take = cap - len(head)
                head += chunk[:take]
                chunk = chunk[take:]
            tail += chunk
            if len(tail) > cap:
                dropped += len(tail) - cap
                del tail[:len(tail) - cap]
            idx = window.rfind(needle)
            if idx >= 0 and window.endswith(b"\n"):
                code = window[idx + len(needle):].strip().decode("ascii", "replace")
                body = _decode(head, tail, dropped)
                body = body[:body.rfind("\n" + self.marker + " ")]
                return body, code, seen - (len(window) - idx)


def _decode(head: bytearray, tail: bytearray, dropped: int) -> str:
    text = head.decode("utf-8", "replace")
    if dropped:
        text += "\n[...]\n"
    return text + tail.decode("utf-8", "replace")
