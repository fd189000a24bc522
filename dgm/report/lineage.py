"""Lineage exports the archive CLI calls: `dgm archive lineage RUN --format html|png`."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_html(archive: Any, out: Path) -> Path:
    """The interactive lineage page: the full report (tree, node panels, plots inline) in one file."""
    from dgm.report.page import write_report

    return write_report(archive, Path(out), plot_files=False)


def write_png(archive: Any, out: Path) -> Path:
    """The lineage tree drawn with matplotlib, as a PNG."""
    from dgm.report import plots
    from dgm.report.model import collect

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig = plots.lineage_figure(collect(archive, with_diffs=False))
    try:
        plots.save(fig, png=out)
    finally:
        plots.close(fig)
    return out
