"""Score colours: a viridis ramp for 0..1 (perceptually even, readable by colour-blind people)."""

from __future__ import annotations

# Eight stops of matplotlib's viridis; linear interpolation between them is close enough.
_VIRIDIS = [(0x44, 0x01, 0x54), (0x46, 0x33, 0x7e), (0x36, 0x5c, 0x8d), (0x27, 0x7f, 0x8e),
            (0x1f, 0xa1, 0x87), (0x4a, 0xc1, 0x6d), (0x9f, 0xda, 0x3a), (0xfd, 0xe7, 0x25)]
NO_SCORE = "#c8c8c8"


def score_color(score: float | None) -> str:
    """Hex colour of a score in [0, 1]; grey when there is no score."""
    if score is None:
        return NO_SCORE
    t = min(1.0, max(0.0, float(score))) * (len(_VIRIDIS) - 1)
    i = min(int(t), len(_VIRIDIS) - 2)
    f = t - i
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b))


def text_color(score: float | None) -> str:
    """Black or white, whichever reads better on score_color(score)."""
    if score is None:
        return "#222"
    return "#fff" if float(score) < 0.55 else "#111"
