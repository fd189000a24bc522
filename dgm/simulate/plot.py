"""The simulation's figure: best true quality reached against evaluations, dollars and wall time."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dgm.simulate.runner import RunResult
from dgm.simulate.table import rows_of


def _curve(runs: list[RunResult], axis: str, grid: np.ndarray) -> np.ndarray:
    """Mean over seeds of the pick's true quality at each grid point of `axis`."""
    ys = []
    for r in runs:
        xs = getattr(r, axis) / (3600.0 if axis == "seconds" else 1.0)
        idx = np.searchsorted(xs, grid, side="right") - 1
        y = np.where(idx >= 0, r.quality[np.clip(idx, 0, None)], np.nan)
        ys.append(y)
    import warnings

    with warnings.catch_warnings():   # a grid point no seed reached is a gap in the curve, not an error
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.array(ys), axis=0)


def write_plot(results: list[RunResult], path: Path, workers: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), constrained_layout=True)
    for ax, axis, label in zip(axes, ("evals", "usd", "seconds"),
                               ("task evaluations (smoke runs included)", "dollars", f"wall hours at W={workers}")):
        top = max(float(np.max(getattr(r, axis))) for r in results) / (3600.0 if axis == "seconds" else 1.0)
        grid = np.linspace(0, top, 200)
        for row in rows_of(results):
            ax.plot(grid, _curve(row.runs, axis, grid), label=f"{row.policy} / {row.strategy}")
        ax.set_xlabel(label)
        ax.set_ylabel("true quality of the pick (mean over seeds)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"dgm simulate: {len({r.seed for r in results})} seed(s)", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
