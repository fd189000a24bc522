"""The self-contained HTML report: one file, inline CSS, JS and SVG; nothing fetched from anywhere."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from dgm.report.model import RunView, collect
from dgm.report.panels import best_path_html, e, fmt_score, node_link, panel_html
from dgm.report.stats import RunStats
from dgm.report.tree_svg import legend_html, tree_svg

PLOTS = ("progress", "cost")


def _static(name: str) -> str:
    return resources.files("dgm.report").joinpath("static", name).read_text(encoding="utf-8")


def _card(key: str, value: str, small: str = "") -> str:
    return (f'<div class="card"><div class="k">{key}</div><div class="v">{value}'
            f'{f" <small>{small}</small>" if small else ""}</div></div>')


def summary_html(stats: RunStats) -> str:
    reasons = ", ".join(f"{e(k)}: {v}" for k, v in stats.rejected_by_reason.items())
    best = (f"node {node_link(stats.best_id)}" if stats.best_id is not None else "–")
    best_small = (f"score {fmt_score(stats.best_score)} ({stats.best_resolved}/{stats.best_evaluated})"
                  if stats.best_id is not None else "")
    tokens = stats.calls_tokens if stats.calls_tokens is not None else stats.tokens_in + stats.tokens_out
    cards = [
        _card("nodes", str(stats.nodes), f"{stats.generations} generation(s)"),
        _card("admitted", str(stats.admitted)),
        _card("rejected", str(stats.rejected), reasons),
        _card("pending", str(stats.pending)),
        _card("best agent", best, best_small),
        _card("seed score", fmt_score(stats.root_score)),
        _card("total cost", f"${stats.cost_usd:.4f}"),
        _card("tokens", f"{tokens:,}"),
        _card("agent wall time", f"{stats.wall_seconds / 60:.1f} min"),
    ]
    return '<div class="cards" id="stats">' + "".join(cards) + "</div>"


def render_page(view: RunView, plots: dict[str, str], plot_links: dict[str, list[str]],
                verification: str = "") -> str:
    """The whole report page as one string."""
    title = f"dgm report: {view.run_dir.name}"
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    figures = []
    captions = {"progress": "Best and mean score of the admitted agents after each iteration; "
                            "dots are individual nodes (x: rejected).",
                "cost": "Cumulative dollars and tokens spent on model calls."}
    for name in PLOTS:
        if name not in plots:
            continue
        links = " · ".join(f'<a href="{e(link)}">{e(link.rsplit(".", 1)[-1].upper())}</a>'
                           for link in plot_links.get(name, []))
        figures.append(f'<figure id="plot-{name}">{plots[name]}<figcaption>{captions[name]}'
                       f'{" (" + links + ")" if links else ""}</figcaption></figure>')
    panels = "".join(panel_html(view, nv) for nv in view.nodes)
    start = view.best_id if view.best_id is not None else (view.nodes[0].node.id if view.nodes else "")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Everything is inline; forbid the page from loading anything at all.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{e(title)}</title><style>{_static('report.css')}</style></head>"
        f'<body data-start="{e(start)}"><header><h1>{e(title)}</h1>'
        f'<p class="sub">{len(view.nodes)} nodes · generated {now} · click a node in the tree</p></header><main>'
        f'<section id="summary"><h2>Summary</h2>{summary_html(view.stats)}</section>{verification}'
        '<div class="grid"><div class="left">'
        f'<section id="tree"><h2>Lineage<span class="zoom"><button data-zoom="out" '
        'title="zoom out">−</button><button data-zoom="fit" title="fit the width">fit</button><button '
        f'data-zoom="in" title="zoom in">+</button></span></h2>{legend_html()}'
        f'<div class="tree-wrap">{tree_svg(view)}</div></section>'
        f'<section id="best-path"><h2>From the seed to the best agent</h2>{best_path_html(view)}</section>'
        f'<section id="plots-section"><h2>Plots</h2><div class="plots">{"".join(figures)}</div></section>'
        '</div>'
        f'<section id="node"><p id="hint">Click a node in the tree.</p>{panels}</section></div>'
        f"</main><script>{_static('report.js')}</script></body></html>\n"
    )


def write_report(archive: Any, out: Path, *, plot_files: bool = True) -> Path:
    """Write the report to `out`; with `plot_files`, also <stem>-progress/-cost .png and .svg beside it."""
    from dgm.report import plots as mpl

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    view = collect(archive)
    try:
        rel = os.path.relpath(view.run_dir.resolve(), out.parent.resolve())
        view.link_prefix = "" if rel == "." else Path(rel).as_posix() + "/"
    except ValueError:  # another drive: no relative path
        view.link_prefix = None
    inline: dict[str, str] = {}
    links: dict[str, list[str]] = {}
    for name, make in (("progress", mpl.progress_figure), ("cost", mpl.cost_figure)):
        fig = make(view)
        try:
            if plot_files:
                png, svg = out.with_name(f"{out.stem}-{name}.png"), out.with_name(f"{out.stem}-{name}.svg")
                mpl.save(fig, png, svg)
                links[name] = [png.name, svg.name]
            inline[name] = mpl.inline_svg(fig, salt=name)
        finally:
            mpl.close(fig)
    from dgm.report.verification import verification_html
    from dgm.science.analyze import analysis

    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(render_page(view, inline, links, verification_html(analysis(archive))), encoding="utf-8")
    tmp.replace(out)
    return out
