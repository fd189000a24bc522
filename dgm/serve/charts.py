"""Small SVG line charts drawn by hand: the live page redraws them often, and matplotlib costs a
second and ~40 MB to import. The series are the report's own (dgm.report.plots)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

from dgm.report.model import RunView
from dgm.report.plots import cost_series, progress_series

W, H = 640, 230
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 26, 38


@dataclass
class Series:
    """One line (or, with `dots`, a scatter) of a chart."""

    label: str
    color: str
    xs: list[float]
    ys: list[float | None]
    step: bool = False
    dots: bool = False
    marker: str = "o"


@dataclass
class Chart:
    title: str
    xlabel: str
    series: list[Series] = field(default_factory=list)
    ymin: float | None = None
    ymax: float | None = None


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 10_000:
        return f"{v / 1000:.0f}k"
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:.0f}"
    return f"{v:.3g}"


def render(chart: Chart, css_class: str) -> str:
    """The chart as an <svg> element (numbers and our own labels only)."""
    xs = [x for s in chart.series for x in s.xs]
    ys = [y for s in chart.series for y in s.ys if y is not None]
    out = [f'<svg class="plot {css_class}" viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg" role="img" '
           f'aria-label="{escape(chart.title)}"><text class="pt" x="{LEFT}" y="16">{escape(chart.title)}</text>']
    if not xs or not ys:
        out.append(f'<text class="pl" x="{W / 2}" y="{H / 2}" text-anchor="middle">no data yet</text></svg>')
        return "".join(out)
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    y0 = chart.ymin if chart.ymin is not None else min(0.0, min(ys))
    y1 = chart.ymax if chart.ymax is not None else max(ys)
    if y1 <= y0:
        y1 = y0 + 1

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT)

    def py(y: float) -> float:
        return H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM)

    for t in _ticks(y0, y1):
        out.append(f'<line class="grid" x1="{LEFT}" x2="{W - RIGHT}" y1="{py(t):.1f}" y2="{py(t):.1f}"/>'
                   f'<text class="tick" x="{LEFT - 4}" y="{py(t) + 3:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for t in _ticks(x0, x1, 6):
        out.append(f'<text class="tick" x="{px(t):.1f}" y="{H - BOTTOM + 13}" text-anchor="middle">{_fmt(t)}</text>')
    out.append(f'<text class="pl" x="{(LEFT + W - RIGHT) / 2}" y="{H - 6}" text-anchor="middle">'
               f"{escape(chart.xlabel)}</text>")
    legend_x = LEFT + 150
    for s in chart.series:
        pts = [(px(x), py(y)) for x, y in zip(s.xs, s.ys) if y is not None]
        if s.dots and pts:
            # Marks drawn at the same whole pixel are one mark (10,000 nodes sit on a few hundred).
            pts = list(dict.fromkeys((round(x), round(y)) for x, y in pts))
            # One path for all the marks: thousands of nodes stay one element, not thousands.
            if s.marker == "x":
                d = "".join(f"M{x - 3:.0f},{y - 3:.0f}l6,6m0,-6l-6,6" for x, y in pts)
                out.append(f'<path class="mark" fill="none" stroke="{s.color}" d="{d}"/>')
            else:
                d = "".join(f"M{x:.0f},{y:.0f}h0" for x, y in pts)
                out.append(f'<path class="dots" fill="none" stroke="{s.color}" stroke-opacity=".6" '
                           f'stroke-width="6" stroke-linecap="round" d="{d}"/>')
        elif pts and not s.dots:
            # A point within half a pixel of the last one kept adds nothing to the drawing, nor does a
            # step line's point within half a pixel of the last height.
            kept = [pts[0]]
            for q in pts[1:]:
                if (abs(q[1] - kept[-1][1]) >= 0.5 if s.step else
                        abs(q[0] - kept[-1][0]) >= 0.5 or abs(q[1] - kept[-1][1]) >= 0.5):
                    kept.append(q)
            if kept[-1] != pts[-1]:
                kept.append(pts[-1])
            pts = kept
            d = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
            for (xa, ya), (xb, yb) in zip(pts, pts[1:]):
                d.append(f"H{xb:.1f}V{yb:.1f}" if s.step else f"L{xb:.1f},{yb:.1f}")
            out.append(f'<path class="line" fill="none" stroke="{s.color}" stroke-width="2" d="{"".join(d)}"/>')
        out.append(f'<rect x="{legend_x}" y="8" width="10" height="10" fill="{s.color}"/>'
                   f'<text class="pl" x="{legend_x + 14}" y="17">{escape(s.label)}</text>')
        legend_x += 24 + 7 * len(s.label)
    out.append("</svg>")
    return "".join(out)


def progress_svg(view: RunView) -> str:
    """Best and mean admitted score after each iteration, every node a dot (x: rejected)."""
    its, best, mean = progress_series(view)
    adm = [(v.iteration, v.node.score) for v in view.nodes if v.node.status == "admitted" and v.node.score is not None]
    rej = [(v.iteration, v.node.score) for v in view.nodes
           if v.node.status.startswith("rejected") and v.node.score is not None]
    chart = Chart("Progress: score of the admitted agents", "iteration", ymin=0.0, ymax=1.0, series=[
        Series("best", "#d1495b", [float(i) for i in its], best, step=True),
        Series("mean", "#2e86ab", [float(i) for i in its], mean),
        Series("admitted", "#444", [float(i) for i, _ in adm], [s for _, s in adm], dots=True),
        Series("rejected", "#999", [float(i) for i, _ in rej], [s for _, s in rej], dots=True, marker="x"),
    ])
    return render(chart, "progress")


def cost_svg(view: RunView) -> str:
    """Cumulative dollars over the run (and the tokens, scaled, on the same axes would mislead: dollars only)."""
    label, xs, usd, tin, tout = cost_series(view)
    chart = Chart(f"Cost: cumulative dollars ({sum(tin[-1:]) + sum(tout[-1:]):,} tokens)", label,
                  series=[Series("dollars", "#2a9d8f", xs, list(usd), step=True)])
    return render(chart, "cost")
