"""The live page's plots draw thousands of points as the few hundred pixels they land on."""

from __future__ import annotations

import math
import re

from dgm.serve.charts import Chart, Series, render


def test_points_on_the_same_pixel_are_drawn_once() -> None:
    n = 10_000
    xs = [float(i) for i in range(n)]
    chart = Chart("t", "iteration", ymin=0.0, ymax=1.0, series=[
        Series("cum", "#111", xs, [i / n for i in range(n)], step=True),
        Series("mean", "#222", xs, [0.5 + 0.3 * math.sin(i / 500) for i in range(n)]),
        Series("dots", "#333", xs, [(i % 6) / 6 for i in range(n)], dots=True),
    ])
    svg = render(chart, "p")
    step, line, dots = re.findall(r' d="([^"]*)"', svg)
    # Drawn point by point, each of the three would be over 100,000 characters.
    assert len(step) < 6_000 and len(line) < 24_000 and len(dots) < 60_000
    # The lines still start and end where the data do, and climb to the top.
    assert step.startswith("M52.0,192.0") and step.endswith("H628.0V26.0")
    assert line.startswith("M52.0,109.0")
    # Every distinct pixel a dot lands on is drawn once: 6 heights × the plot's width in pixels at most.
    marks = re.findall(r"M(\d+),(\d+)h0", dots)
    assert len(marks) == len(set(marks)) and {y for _, y in marks} == {"192", "164", "137", "109", "81", "54"}
