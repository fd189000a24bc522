"""Matplotlib figures of a run (imported lazily, Agg backend): progress, cost over time, the lineage tree."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from dgm.report.colors import NO_SCORE
from dgm.report.layout import edges, tidy_layout
from dgm.report.model import RunView


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def progress_series(view: RunView) -> tuple[list[int], list[float | None], list[float | None]]:
    """(iterations, best admitted score so far, mean admitted score so far) — the DGM paper's curve."""
    iterations = sorted({v.iteration for v in view.nodes})
    by_iteration: dict[int, list[float]] = {}
    for v in view.nodes:
        if v.node.status == "admitted" and v.node.score is not None:
            by_iteration.setdefault(v.iteration, []).append(v.node.score)
    best: list[float | None] = []
    mean: list[float | None] = []
    top: float | None = None
    total, count = 0.0, 0
    # One sweep in iteration order (a rescan per iteration was quadratic: a minute at 10,000 nodes).
    for it in iterations:
        scores = by_iteration.get(it, [])
        if scores:
            top = max(scores) if top is None else max(top, max(scores))
            total += sum(scores)
            count += len(scores)
        best.append(top)
        mean.append(total / count if count else None)
    return iterations, best, mean


def progress_figure(view: RunView) -> Any:
    """Best and mean admitted score against iteration, with every node's score as a point."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.6), dpi=110)
    its, best, mean = progress_series(view)
    ax.step(its, [b if b is not None else float("nan") for b in best], where="post", color="#d1495b",
            lw=2.2, label="best admitted")
    ax.plot(its, [m if m is not None else float("nan") for m in mean], color="#2e86ab", lw=1.6,
            marker=".", label="mean admitted")
    adm = [(v.iteration, v.node.score) for v in view.nodes if v.node.status == "admitted" and v.node.score is not None]
    rej = [(v.iteration, v.node.score) for v in view.nodes
           if v.node.status.startswith("rejected") and v.node.score is not None]
    if adm:
        ax.scatter(*zip(*adm), s=18, color="#444", alpha=0.55, label="admitted node", zorder=3)
    if rej:
        ax.scatter(*zip(*rej), s=22, marker="x", color="#999", label="rejected node", zorder=3)
    if view.best_id is not None:
        b = view.by_id()[view.best_id]
        ax.annotate(f"best: node {b.node.id}", (b.iteration, b.node.score), textcoords="offset points",
                    xytext=(6, 6), fontsize=8, color="#d1495b")
    ax.set_xlabel("iteration")
    ax.set_ylabel("score (fraction of tasks resolved)")
    ax.set_ylim(-0.03, 1.08)
    if its:
        ax.set_xlim(min(its) - 0.3, max(its) + 0.3)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", frameon=True, framealpha=0.9)
    ax.set_title("Progress", fontsize=11, loc="left")
    fig.tight_layout()
    return fig


def cost_series(view: RunView) -> tuple[str, list[float], list[float], list[int], list[int]]:
    """(x label, x, cumulative dollars, cumulative input tokens, cumulative output tokens): over wall-clock
    minutes when the calls are timestamped, else over iterations from the nodes' own accounting."""
    timed = sorted((c for c in view.calls if c.at is not None), key=lambda c: c.at)
    xs: list[float] = []
    usd: list[float] = []
    tin: list[int] = []
    tout: list[int] = []
    total_usd, total_in, total_out = 0.0, 0, 0
    if timed:
        t0 = timed[0].at
        for c in timed:
            total_usd += c.cost_usd
            total_in += c.tokens_in
            total_out += c.tokens_out
            xs.append((c.at - t0).total_seconds() / 60.0)
            usd.append(total_usd)
            tin.append(total_in)
            tout.append(total_out)
        return "minutes since the first model call", xs, usd, tin, tout
    for v in sorted(view.nodes, key=lambda v: v.iteration):
        total_usd += float(v.node.cost_usd or 0.0)
        total_in += int(v.node.tokens_in or 0)
        total_out += int(v.node.tokens_out or 0)
        xs.append(float(v.iteration))
        usd.append(total_usd)
        tin.append(total_in)
        tout.append(total_out)
    return "iteration", xs, usd, tin, tout


def cost_figure(view: RunView) -> Any:
    """Cumulative dollars, and cumulative input and output tokens, over the run (two panels)."""
    plt = _pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(7.0, 3.2), dpi=110)
    label, xs, usd, tin, tout = cost_series(view)
    ax.step(xs, usd, where="post", color="#2a9d8f", lw=2)
    ax.set_xlabel(label)
    ax.set_ylabel("cumulative $")
    ax.set_title("Dollars", fontsize=11, loc="left")
    ax2.step(xs, tin, where="post", color="#e76f51", lw=1.8, label="input")
    ax2.step(xs, tout, where="post", color="#264653", lw=1.8, label="output")
    ax2.set_xlabel(label)
    ax2.set_title("Tokens", fontsize=11, loc="left")
    ax2.legend(fontsize=8, frameon=False, loc="upper left")
    for a in (ax, ax2):
        a.grid(alpha=0.3)
        a.set_ylim(bottom=0)
    fig.tight_layout()
    return fig


def lineage_figure(view: RunView) -> Any:
    """The lineage tree drawn with matplotlib: colour by score, rejected crossed, best path in red."""
    plt = _pyplot()
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    parents = view.parents
    placed = tidy_layout(parents)
    span_x = max((p.x for p in placed.values()), default=0) + 1
    span_y = max((p.depth for p in placed.values()), default=0) + 1
    fig, ax = plt.subplots(figsize=(min(40, max(5.0, 0.55 * span_x + 2)), min(30, max(3.0, 0.9 * span_y + 1.2))),
                           dpi=110)
    cmap, norm = colormaps["viridis"], Normalize(0.0, 1.0)
    path_edges = set(zip(view.best_path, view.best_path[1:]))
    for parent, child in edges(parents):
        a, b = placed[parent], placed[child]
        hot = (parent, child) in path_edges
        ax.plot([a.x, b.x], [-a.depth, -b.depth], color="#d1495b" if hot else "#9a9a9a",
                lw=2.6 if hot else 1.0, zorder=1 + hot)
    for v in view.nodes:
        p, node = placed[v.node.id], v.node
        color = NO_SCORE if node.score is None else cmap(norm(node.score))
        rejected = node.status.startswith("rejected")
        ax.scatter([p.x], [-p.depth], s=360, c=[color], zorder=3, alpha=0.55 if rejected else 1.0,
                   edgecolors="#d1495b" if node.id == view.best_id else "#333",
                   linewidths=3 if node.id == view.best_id else 0.8, linestyle="--" if rejected else "-")
        ax.text(p.x, -p.depth, node.id, ha="center", va="center", fontsize=7, zorder=4,
                color="white" if node.score is not None and node.score < 0.55 else "black")
        if rejected:
            ax.annotate("x", (p.x, -p.depth), xytext=(9, 7), textcoords="offset points", color="#d1495b",
                        fontsize=10, fontweight="bold", zorder=5)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=norm)
    fig.colorbar(sm, ax=ax, fraction=0.03, pad=0.02, label="score")
    ax.set_xlim(-0.7, span_x - 0.3)
    ax.set_ylim(-(span_y - 1) - 0.6, 0.6)
    ax.set_yticks([-d for d in range(span_y)], [str(d) for d in range(span_y)])
    ax.set_ylabel("generation")
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title("Lineage (red: path to the best agent; x: rejected)", fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def save(fig: Any, png: Path | None = None, svg: Path | None = None) -> None:
    """Write a figure as PNG and/or SVG."""
    if png is not None:
        fig.savefig(png, format="png")
    if svg is not None:
        fig.savefig(svg, format="svg")


def inline_svg(fig: Any, salt: str) -> str:
    """The figure as an <svg> element for embedding (no XML prolog; ids salted to stay unique in a page)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": salt, "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg")
    text = buf.getvalue()
    start = text.find("<svg")
    return re.sub(r"<svg ", '<svg class="plot" ', text[start:], count=1)


def close(fig: Any) -> None:
    _pyplot().close(fig)
