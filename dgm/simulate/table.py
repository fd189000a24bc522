"""Many simulated runs summed up: one row per policy x strategy, over seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dgm.simulate.runner import RunResult


@dataclass
class Row:
    policy: str
    strategy: str
    runs: list[RunResult]

    def mean(self, values: list[float]) -> float:
        arr = np.array(values, dtype=float)
        return float(np.nanmean(arr)) if len(arr) and not np.isnan(arr).all() else float("nan")


def rows_of(results: list[RunResult]) -> list[Row]:
    out: dict[tuple[str, str], Row] = {}
    for r in results:
        out.setdefault((r.policy, r.strategy), Row(r.policy, r.strategy, [])).runs.append(r)
    return list(out.values())


def reference_evals(results: list[RunResult]) -> dict[int, float]:
    """Per seed, the evaluations dgm's whole run spent (the budget everything is compared at)."""
    return {r.seed: float(r.evals[-1]) for r in results if r.policy == "dgm"}


def format_table(results: list[RunResult]) -> str:
    ref = reference_evals(results)
    head = ("policy", "strategy", "seeds", "final q", "q@dgm evals", "picked best", "evals", "USD", "wall h",
            "util", "r(score)", "r(clade)")
    lines = []
    for row in rows_of(results):
        runs = row.runs
        at_ref = [r.quality_at(ref[r.seed]) for r in runs if r.seed in ref]
        cells = (
            row.policy, row.strategy, str(len(runs)),
            f"{row.mean([r.final_quality for r in runs]):.3f}",
            f"{row.mean(at_ref):.3f}" if at_ref else "-",
            f"{100 * row.mean([float(r.picked_best) for r in runs]):.0f}%",
            f"{row.mean([r.evals[-1] for r in runs]):.0f}",
            f"{row.mean([r.usd[-1] for r in runs]):.0f}",
            f"{row.mean([r.seconds[-1] / 3600 for r in runs]):.1f}",
            f"{100 * row.mean([r.utilisation for r in runs]):.0f}%",
            _corr(row, "score"), _corr(row, "clade"),
        )
        lines.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*head), fmt.format(*("-" * w for w in widths))] + [fmt.format(*c) for c in lines])


def _corr(row: Row, name: str) -> str:
    vals = [r.correlation[name] for r in row.runs if name in r.correlation]
    return f"{np.mean(vals):.3f}" if vals else "-"
