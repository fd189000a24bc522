"""The evolve view and RUN/log.txt show reasons, errors and labels from sandboxes and models inert."""

from __future__ import annotations

import io
from pathlib import Path

from dgm.evolve.progress import Progress
from tests.terminal_payloads import HOSTILE, assert_inert


def test_plain_log_lines_are_inert_and_one_line_each(tmp_path: Path) -> None:
    out = io.StringIO()
    with Progress(tmp_path, stream=out) as p:
        p.log("node 3: engine failure on calc-1: " + HOSTILE + "\n2026-01-01T00:00:00Z node 3 admitted")
    for text in (out.getvalue(), (tmp_path / "log.txt").read_text()):
        assert_inert(text)
        assert len(text.splitlines()) == 1  # a newline in the message cannot forge a log entry


def test_live_view_shows_labels_and_reasons_as_data(tmp_path: Path) -> None:
    out = io.StringIO()
    with Progress(tmp_path, live=True, stream=out) as p:
        p.log("node 2 rejected: " + HOSTILE)
        p.update(phase="iteration 1", workers=[("worker_0", "node 4 stage 1 task [red]calc[/red]" + HOSTILE, 3.0)],
                 reasons={"crashed " + HOSTILE: 1})
    screen = out.getvalue()
    assert_inert(screen)
    assert "[red]calc[/red]" in screen  # a label is not rich markup
    assert_inert((tmp_path / "log.txt").read_text())
