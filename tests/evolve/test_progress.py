"""Progress: plain lines (and RUN/log.txt) off a terminal, a live panel on one."""

from __future__ import annotations

import io
import time
from pathlib import Path

from dgm.evolve.progress import Progress


def test_plain_lines_go_to_the_stream_and_the_log_file(tmp_path: Path) -> None:
    out = io.StringIO()
    with Progress(tmp_path, stream=out) as p:  # a StringIO is not a terminal: plain lines
        p.log("node 1 admitted")
        p.update(iteration=1, iterations=2, admitted=2, rejected=1, spent_usd=0.5, budget_usd=2.0)
        summary = p.summary()
    assert "node 1 admitted" in out.getvalue()
    assert "node 1 admitted" in (tmp_path / "log.txt").read_text()
    assert summary.startswith("iteration 1/2: 2 admitted, 1 rejected") and "$0.5000 of $2.00" in summary


def test_live_view_shows_workers_scores_budget_and_time(tmp_path: Path) -> None:
    out = io.StringIO()
    with Progress(tmp_path, live=True, stream=out) as p:
        p.log("iteration 1: parents 0, 0")
        p.update(phase="iteration 1", iteration=1, iterations=3, admitted=1, best_score=0.75, best_node="4",
                 spent_usd=1.25, budget_usd=10.0, deadline=time.monotonic() + 600,
                 workers=[("worker_0", "node 4 stage 1 task calc-1", 12.0)], reasons={"own tests fail": 1})
    screen = out.getvalue()
    for text in ("iteration 1/3", "worker_0", "node 4 stage 1 task calc-1", "best 0.750 (node 4)",
                 "$1.2500 of $10.00", "min left", "own tests fail 1"):
        assert text in screen, text
    assert "iteration 1: parents 0, 0" in (tmp_path / "log.txt").read_text()
