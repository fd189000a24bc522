"""The report's Verification section: calibration curve, the gap along the lineage, pass@k over the
admissions, the verifiers' non-overlap heat map. Hand-drawn inline SVG; every string escaped."""

from __future__ import annotations

from typing import Any, Sequence

from dgm.report.colors import score_color, text_color
from dgm.report.panels import e, node_link

W, H, PAD, TOP = 300, 220, 34, 24
KEYS = ("1", "2", "5", "10", "all")
LINE_COLORS = ("#440154", "#31688e", "#35b779", "#b5de2b", "#e6550d")


def _f(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else e(value)


def _x(i: float, n: float) -> float:
    return PAD + (W - PAD - 10) * (i / n if n else 0.5)


def _y(v: float, lo: float = 0.0, hi: float = 1.0) -> float:
    return H - PAD - (H - PAD - TOP) * ((v - lo) / (hi - lo))


def _frame(title: str, ylo: float = 0.0, yhi: float = 1.0, xlabel: str = "", ylabel: str = "") -> list[str]:
    parts = [f'<text x="{W / 2}" y="12" text-anchor="middle" font-size="11">{e(title)}</text>',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#888"/>',
             f'<line x1="{PAD}" y1="{TOP}" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>']
    for v in (ylo, (ylo + yhi) / 2, yhi):
        parts.append(f'<text x="{PAD - 4}" y="{_y(v, ylo, yhi) + 3:.1f}" text-anchor="end" font-size="9">{v:g}</text>')
    if xlabel:
        parts.append(f'<text x="{W / 2}" y="{H - 4}" text-anchor="middle" font-size="10">{e(xlabel)}</text>')
    if ylabel:
        parts.append(f'<text x="10" y="{H / 2}" font-size="10" transform="rotate(-90 10 {H / 2})" '
                     f'text-anchor="middle">{e(ylabel)}</text>')
    return parts


def _svg(parts: Sequence[str], ident: str) -> str:
    return (f'<svg id="{ident}" class="chart" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
            f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">{"".join(parts)}</svg>')


def calibration_svg(curve: list[dict]) -> str:
    parts = _frame("calibration: P(resolved) vs resolved", xlabel="model's P(resolved)", ylabel="resolved")
    parts.append(f'<line x1="{_x(0, 1)}" y1="{_y(0)}" x2="{_x(1, 1)}" y2="{_y(1)}" stroke="#bbb" '
                 'stroke-dasharray="4 3"/>')
    for v in (0.0, 0.5, 1.0):
        parts.append(f'<text x="{_x(v, 1):.1f}" y="{H - PAD + 12}" text-anchor="middle" font-size="9">{v:g}</text>')
    pts = [(_x(b["mean_p"], 1), _y(b["resolved"]), b) for b in curve]
    if len(pts) > 1:
        parts.append('<polyline fill="none" stroke="#31688e" stroke-width="1.5" points="'
                     + " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts) + '"/>')
    for x, y, b in pts:
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{3 + min(6, b["n"]) :.0f}" fill="#31688e" '
                     f'fill-opacity="0.6"><title>{b["n"]} run(s): mean P {b["mean_p"]:.2f}, resolved '
                     f'{b["resolved"]:.2f}</title></circle>')
    return _svg(parts, "calibration")


def gap_svg(lineage: list[dict]) -> str:
    parts = _frame("gap along the lineage (95% CI)", -1.0, 1.0, xlabel="node (seed → best)", ylabel="gap")
    parts.append(f'<line x1="{PAD}" y1="{_y(0, -1, 1):.1f}" x2="{W - 10}" y2="{_y(0, -1, 1):.1f}" stroke="#ddd"/>')
    n = max(1, len(lineage) - 1)
    for i, q in enumerate(lineage):
        x = _x(i, n) if len(lineage) > 1 else _x(0.5, 1)
        parts.append(f'<text x="{x:.1f}" y="{H - PAD + 12}" text-anchor="middle" font-size="9">{e(q["node"])}</text>')
        if q.get("gap_ci"):
            lo, hi = q["gap_ci"]
            parts.append(f'<line x1="{x:.1f}" y1="{_y(lo, -1, 1):.1f}" x2="{x:.1f}" y2="{_y(hi, -1, 1):.1f}" '
                         'stroke="#e6550d"/>')
        if q.get("gap") is not None:
            parts.append(f'<circle cx="{x:.1f}" cy="{_y(q["gap"], -1, 1):.1f}" r="4" fill="#e6550d">'
                         f'<title>node {e(q["node"])}: gap {q["gap"]:.3f} over {q["runs"]} run(s)</title></circle>')
    return _svg(parts, "gap-lineage")


def pass_at_k_svg(history: list[dict]) -> str:
    parts = _frame("pass@k over the admissions", xlabel="after admitting node", ylabel="pass@k")
    n = max(1, len(history) - 1)
    for i, s in enumerate(history):
        x = _x(i, n) if len(history) > 1 else _x(0.5, 1)
        parts.append(f'<text x="{x:.1f}" y="{H - PAD + 12}" text-anchor="middle" font-size="9">{e(s["node_id"])}</text>')
        if s.get("alarm"):
            parts.append(f'<text x="{x:.1f}" y="{TOP - 2}" text-anchor="middle" font-size="11" fill="#c00">!</text>')
    for j, (k, color) in enumerate(zip(KEYS, LINE_COLORS)):
        pts = [((_x(i, n) if len(history) > 1 else _x(0.5, 1)), _y(s["pass_at"][k]))
               for i, s in enumerate(history) if s["pass_at"].get(k) is not None]
        offset = (j - 2) * 1.2  # equal lines stay visible side by side
        if pts:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="'
                         + " ".join(f"{x:.1f},{y + offset:.1f}" for x, y in pts) + '"/>')
            parts += [f'<circle cx="{x:.1f}" cy="{y + offset:.1f}" r="2.5" fill="{color}"/>' for x, y in pts]
        parts.append(f'<text x="{W - 12}" y="{H - PAD - 10 - 11 * (len(KEYS) - j)}" text-anchor="end" '
                     f'font-size="9" fill="{color}">pass@{k}</text>')
    return _svg(parts, "pass-at-k")


def heatmap_html(matrix: dict[str, dict[str, int]]) -> str:
    names = list(matrix)
    top = max([v for row in matrix.values() for v in row.values()] + [1])
    head = "".join(f"<th>{e(b)}</th>" for b in names)
    body = []
    for a in names:
        cells = []
        for b in names:
            if a == b:
                cells.append('<td class="muted">·</td>')
                continue
            v = matrix[a][b]
            t = v / top
            cells.append(f'<td style="background:{score_color(t)};color:{text_color(t)}">{v}</td>')
        body.append(f"<tr><th>{e(a)}</th>{''.join(cells)}</tr>")
    return (f'<table id="non-overlap" class="heat"><caption>children that the row\'s verifier failed and the '
            f'column\'s passed</caption><tr><th></th>{head}</tr>{"".join(body)}</table>')


def verifiers_html(table: dict[str, list[dict]]) -> str:
    if not table:
        return '<p class="muted">No child reached its verdict yet.</p>'
    names = [v["name"] for v in next(iter(table.values()))]
    mark = {True: '<span class="ok">✓</span>', False: '<span class="bad">✗</span>', None: '<span class="muted">–</span>'}
    rows = []
    for node, row in table.items():
        cells = "".join(f'<td title="{e("; ".join(v["evidence"]))}">{mark[v["passed"]]}</td>' for v in row)
        rows.append(f"<tr><td>{node_link(node)}</td>{cells}</tr>")
    return (f'<table id="verifiers" class="heat"><tr><th>node</th>{"".join(f"<th>{e(n)}</th>" for n in names)}'
            f'</tr>{"".join(rows)}</table>')


def verification_html(data: dict) -> str:
    """The whole section from dgm.science.analyze.analysis()."""
    q = data["verification"]["overall"]
    held = data["heldout"]
    pred = data["predictions_total"]
    cost = data["cost"]

    def card(k: str, v: str, small: str = "") -> str:
        return (f'<div class="card"><div class="k">{e(k)}</div><div class="v">{v}'
                f'{f" <small>{small}</small>" if small else ""}</div></div>')

    def held_text(h: dict) -> str:
        return f'{_f(h.get("score"))}' if h else "–"

    ci = q.get("gap_ci")
    cards = [
        card("resolve rate", _f(q["resolve_rate"]), f'{q["runs"]} verified run(s)'),
        card("verifier accuracy", _f(q["accuracy"]), "at P ≥ 0.5"),
        card("AUROC", _f(q["auroc"])),
        card("Brier", _f(q["brier"])),
        card("gap", _f(q["gap"]), f"95% CI [{_f(ci[0])}, {_f(ci[1])}]" if ci else ""),
        card("fix precision / recall", f'{_f(pred["fix_precision"], 2)} / {_f(pred["fix_recall"], 2)}',
             f'{pred["edits"]} self-edit(s)'),
        card("regression recall", _f(pred["break_recall"], 2), f'{pred["broken"]} regression(s)'),
        card("collapse alarm", '<span class="bad">on</span>' if data["collapse_alarm"] else "off"),
        card("held-out score", f'seed {held_text(held["seed"])} · best {held_text(held["best"])}',
             f'best = node {e(held["best_id"])}' if held.get("best_id") is not None else ""),
        card("instrument tokens", _f(cost["token_share"] * 100 if cost["token_share"] is not None else None, 1)
             + "%", f'{cost["verify_tokens"]:,} of {cost["task_tokens"]:,} task tokens'),
    ]
    figures = (f'<div class="charts">{calibration_svg(data["verification"]["curve"])}'
               f'{gap_svg(data["verification"]["lineage"])}{pass_at_k_svg(data["diversity"])}</div>')
    novelty = ", ".join(f"{node_link(k)}: {v:.2f}" for k, v in sorted(data["novelty"].items(), key=lambda t: int(t[0])))
    return ('<section id="verification"><h2>Verification</h2>'
            f'<div class="cards">{"".join(cards)}</div>{figures}'
            f'<h3>Non-overlap of the verifiers</h3>{heatmap_html(data["non_overlap"])}'
            f'<h3>Verifiers per child</h3>{verifiers_html(data["verifiers"])}'
            f'<p class="muted">Novelty (mean cosine distance to the 4 nearest admitted agents): {novelty or "–"}. '
            'Definitions: docs/science.md.</p></section>')
