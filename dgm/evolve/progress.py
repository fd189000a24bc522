"""Progress: a live terminal view when stdout is a terminal, plain lines otherwise; always RUN/log.txt,
and RUN/progress.json (the status and the worker table, replaced atomically) for `dgm serve`.

Log lines and worker labels carry model and sandbox text (reasons, errors, instance ids): each is made
inert (dgm.terminal) and one line as it arrives, and the live view renders them as rich Text, never markup.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from dgm.terminal import inert

LOG_FILE = "log.txt"
PROGRESS_FILE = "progress.json"
PROGRESS_EVERY = 0.5  # seconds: the worker table on disk is at most this stale


@dataclass
class Status:
    """What the view shows; the loop fills it in."""

    iteration: int = 0
    iterations: int = 0
    phase: str = "starting"
    admitted: int = 0
    rejected: int = 0
    pending: int = 0
    best_score: float | None = None
    best_node: str | None = None
    spent_usd: float = 0.0
    budget_usd: float | None = None
    deadline: float | None = None          # time.monotonic() value of the wall-time cap
    workers: list[tuple[str, str, float]] = field(default_factory=list)
    reasons: dict[str, int] = field(default_factory=dict)


class Progress:
    """Write log lines to RUN/log.txt and show them; a rich Live panel when `live`."""

    def __init__(self, run_dir: Path, *, live: bool | None = None, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.live_enabled = self.stream.isatty() if live is None else live
        self._file = open(Path(run_dir) / LOG_FILE, "a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()
        self._live: Any = None
        self._lines: list[str] = []
        self.status = Status()
        self._json = Path(run_dir) / PROGRESS_FILE
        self._written = 0.0

    def __enter__(self) -> "Progress":
        if self.live_enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(file=self.stream), refresh_per_second=2,
                              transient=False, get_renderable=self._render)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._write_json(finished=True)   # no workers in it; the screen keeps its last view
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None
        self._file.close()

    def log(self, message: str) -> None:
        """One line to the log file, and to the screen (above the live view, or plain)."""
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        line = f"{stamp} {inert(message, lines=False)}"  # one entry, one line: `cat log.txt` stays safe
        with self._lock:
            self._file.write(line + "\n")
            self._lines = (self._lines + [line])[-8:]
            if self._live is None:
                print(line, file=self.stream, flush=True)

    def update(self, **fields: Any) -> None:
        with self._lock:
            for key, value in fields.items():
                setattr(self.status, key, value)
            if time.monotonic() - self._written >= PROGRESS_EVERY:
                self._write_json()

    def _write_json(self, *, finished: bool = False) -> None:
        """The status as JSON for readers in other processes; write-then-rename, so never torn."""
        s = self.status
        data = {"updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "pid": os.getpid(),
                "finished": finished, "phase": s.phase, "iteration": s.iteration, "iterations": s.iterations,
                "admitted": s.admitted, "rejected": s.rejected, "pending": s.pending,
                "best_score": s.best_score, "best_node": s.best_node, "spent_usd": s.spent_usd,
                "budget_usd": s.budget_usd,
                "seconds_left": None if s.deadline is None else max(0.0, s.deadline - time.monotonic()),
                "workers": [] if finished else [{"worker": w, "doing": label, "seconds": round(sec, 1)}
                                                for w, label, sec in s.workers],
                "reasons": s.reasons, "recent": self._lines[-5:]}
        tmp = self._json.with_name(f".{self._json.name}.tmp")
        try:
            tmp.write_text(json.dumps(data, default=str), encoding="utf-8")
            os.replace(tmp, self._json)
        except OSError:
            return  # the view on disk is a convenience; the run goes on without it
        self._written = time.monotonic()

    def summary(self) -> str:
        """The status as one plain line (also the run's closing line)."""
        s = self.status
        best = f"{s.best_score:.3f} (node {s.best_node})" if s.best_score is not None else "-"
        budget = f"${s.spent_usd:.4f}" + (f" of ${s.budget_usd:.2f}" if s.budget_usd else "")
        return (f"iteration {s.iteration}/{s.iterations}: {s.admitted} admitted, {s.rejected} rejected, "
                f"{s.pending} pending; best {best}; spent {budget}{_time_left(s.deadline)}")

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        s = self.status
        head = Text(f"dgm evolve — {s.phase}\n", style="bold")
        head.append(self.summary())
        if s.reasons:
            head.append("\nrejected: " + inert(", ".join(f"{k} {v}" for k, v in sorted(s.reasons.items())),
                                                lines=False))
        table = Table(show_header=True, header_style="bold", expand=False, box=None)
        table.add_column("worker")
        table.add_column("doing")
        table.add_column("for", justify="right")
        for worker, label, seconds in s.workers:
            table.add_row(Text(inert(worker, lines=False)), Text(inert(label, lines=False)), f"{seconds:.0f}s")
        if not s.workers:
            table.add_row("-", "idle", "")
        recent = Text("\n".join(self._lines[-5:]), style="dim")
        return Group(head, table, recent)


def _time_left(deadline: float | None) -> str:
    if deadline is None:
        return ""
    left = max(0.0, deadline - time.monotonic())
    return f"; {left / 60:.1f} min left"
