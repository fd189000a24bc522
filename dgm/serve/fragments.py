"""The live page's HTML, in pieces the page swaps in as the run changes.

Every piece is built on the server by the report's renderers (dgm.report: tree_svg, panels, escaping with
`e`), then passed through dgm.terminal.inert: text from a sandbox or a model is escaped HTML, and its
control and bidi characters show as visible escapes. The page's script inserts these pieces and toggles
classes; it never builds markup from data."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

from dgm.artifacts.trajectory import Trajectory
from dgm.report.model import NodeView, RunView
from dgm.report.page import summary_html
from dgm.report.panels import best_path_html, e, fmt_score, panel_html
from dgm.report.tree_svg import legend_html
from dgm.serve.charts import cost_svg, progress_svg
from dgm.terminal import inert

STEP_TEXT_CAP = 20_000  # characters of one tool output or message shown in the page
# The characters inert() rewrites: a search for them is a few ms on a 10,000-node tree, a translate 0.5 s.
_UNSAFE = re.compile("[" + "".join(re.escape(chr(c)) for c in range(0x10000) if inert(chr(c)) != chr(c)) + "]")


def inert_html(text: str) -> str:
    """inert(text), skipping the rewrite when there is nothing to rewrite."""
    return inert(text) if _UNSAFE.search(text) else text


def static(name: str) -> str:
    return resources.files("dgm.serve").joinpath("static", name).read_text(encoding="utf-8")


def main_parts(view: RunView) -> dict[str, str]:
    """The parts of the page that change when the archive does, but the tree (which the page patches
    from records: dgm.serve.tree)."""
    parts = {
        "summary": summary_html(view.stats),
        "path": best_path_html(view),
        "plots": f'<figure id="plot-progress">{progress_svg(view)}</figure>'
                 f'<figure id="plot-cost">{cost_svg(view)}</figure>',
    }
    return {k: inert_html(v) for k, v in parts.items()}


def tree_data(tree_json: bytes) -> str:
    """The tree's JSON inside the page, in a data block (never run): "<" cannot close the element."""
    return tree_json.decode().replace("<", "\\u003c")


def page(view: RunView, parts: dict[str, str], progress: dict | None, token: str, tree_json: bytes) -> str:
    """The whole page at first load (`parts` from main_parts, the tree's records as JSON); later
    changes arrive as tree changes and parts."""
    title = f"dgm serve: {view.run_dir.name}"
    start = view.best_id if view.best_id is not None else (view.nodes[0].node.id if view.nodes else "")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{inert(e(title))}</title>"
        '<link rel="icon" href="data:,"><link rel="stylesheet" href="static/report.css"><link rel="stylesheet" href="static/serve.css"></head>'
        f'<body data-start="{inert(e(start))}" data-token="{e(token)}"><header><h1>{inert(e(title))}</h1>'
        '<p class="sub"><span id="live" class="live">connecting…</span> · click a node in the tree; '
        "drag to pan, the buttons or ctrl+wheel to zoom</p></header><main>"
        f'<section id="summary"><h2>Summary</h2><div id="part-summary">{parts["summary"]}</div></section>'
        f'<section id="workers"><h2>Workers</h2><div id="part-workers">{workers_html(progress)}</div></section>'
        '<div class="grid"><div class="left">'
        '<section id="tree"><h2>Lineage<span class="zoom"><button data-zoom="out" title="zoom out">−</button>'
        '<button data-zoom="fit" title="fit the width">fit</button><button data-zoom="in" title="zoom in">+'
        f'</button></span></h2>{legend_html()}<div class="tree-wrap" id="part-tree"><svg xmlns="http://www.w3.org/2000/svg" '
        'class="lineage" id="lineage" role="img" aria-label="lineage tree"></svg></div>'
        f'<script type="application/json" id="tree-data">{tree_data(tree_json)}</script></section>'
        f'<section id="best-path"><h2>From the seed to the best agent</h2><div id="part-path">{parts["path"]}'
        "</div></section>"
        f'<section id="plots-section"><h2>Plots</h2><div class="plots" id="part-plots">{parts["plots"]}</div>'
        "</section>"
        f'<div id="part-verify">{verify_html(None, 0, None, True)}</div></div>'
        '<section id="node"><p id="hint">Click a node in the tree.</p><div id="part-node"></div>'
        '<div id="part-traj"></div></section></div>'
        '</main><script src="static/serve.js"></script></body></html>\n'
    )


# The report's heat map colours its cells with style attributes, which the page's CSP refuses to apply;
# the colours travel as data attributes instead, and the script sets them through the CSSOM.
_CELL_STYLE = re.compile(r'style="background:(#[0-9a-f]{6});color:(#[0-9a-f]{3,6})"')


def verify_html(token: str | None, nodes: int, html: str | None, busy: bool) -> str:
    """The verification instruments of dgm.science (the report's section), or what is under way."""
    if html is not None:
        html = _CELL_STYLE.sub(r'data-bg="\1" data-fg="\2"', html)
    if html is None:
        return ('<section id="verification"><h2>Verification</h2><p class="muted">'
                + ("Computing the instruments…" if busy else "Not computed yet.") + "</p></section>")
    more = '<p class="muted">The archive has changed since: a newer analysis is under way.</p>' if busy else ""
    return inert_html(html[:-len("</section>")] + more + "</section>" if more and html.endswith("</section>") else html)


def node_html(view: RunView, nv: NodeView) -> str:
    """One node's panel (the report's: record, task, diff against the parent, diagnosis, tasks) and
    buttons that step through its trajectories."""
    panel = panel_html(view, nv).replace(f'data-node="{e(nv.node.id)}" hidden>', f'data-node="{e(nv.node.id)}">', 1)
    buttons = []
    if any(f.endswith("/trajectory.json") for f in nv.selfmod_files):
        buttons.append(f'<button class="traj" data-node="{e(nv.node.id)}" data-task="">the self-modification'
                       "</button>")
    for t in nv.tasks:
        if any(f.endswith("/trajectory.json") for f in t.files):
            buttons.append(f'<button class="traj" data-node="{e(nv.node.id)}" data-task="{e(t.instance_id)}">'
                           f"{e(t.instance_id)}</button>")
    trajs = ('<h3>Trajectories</h3><p class="trajs">' + " ".join(buttons) + "</p>" if buttons
             else '<h3>Trajectories</h3><p class="muted">None recorded.</p>')
    return inert(panel + trajs)


def trajectory_html(title: str, traj: Trajectory) -> str:
    """A trajectory as steps the page shows one at a time (the first messages fold away)."""
    def cut(text: Any) -> str:
        text = text if isinstance(text, str) else json.dumps(text, indent=1, ensure_ascii=False, default=str)
        return text if len(text) <= STEP_TEXT_CAP else text[:STEP_TEXT_CAP] + f"\n… ({len(text):,} characters)"

    first = [m for m in traj.messages if m.role in ("system", "user")][:2]
    intro = "".join(f"<h4>{e(m.role)}</h4><pre class=\"out\">{e(cut(m.text() or ''))}</pre>" for m in first)
    steps = []
    for k, step in enumerate(traj.steps):
        calls = "".join(f'<div class="call"><b>{e(c.name)}</b><pre class="out">{e(cut(_args(c.arguments)))}</pre></div>'
                        for c in step.tool_calls)
        outs = "".join(f'<pre class="out result">{e(cut(o))}</pre>' for o in step.outputs)
        thought = f'<div class="text thought">{e(cut(step.thought))}</div>' if step.thought else ""
        secs = f" · {step.seconds:.1f} s" if isinstance(step.seconds, (int, float)) else ""
        steps.append(f'<li class="step" data-step="{k}"{"" if k == 0 else " hidden"}>'
                     f"<h4>step {k + 1} of {len(traj.steps)}{secs}</h4>{thought}{calls}{outs}</li>")
    usage = ", ".join(f"{e(k)} {e(v)}" for k, v in traj.usage.items())
    return inert(
        f'<div class="trajectory" data-steps="{len(traj.steps)}"><h3>{e(title)}</h3>'
        f"<p>status <b>{e(traj.status)}</b>{' · ' + e(traj.reason) if traj.reason else ''}"
        f"{' · ' + usage if usage else ''}</p>"
        f"<details><summary>what the agent was told</summary>{intro}</details>"
        '<p class="stepper"><button data-stepper="first">⏮</button><button data-stepper="prev">◀ prev</button>'
        '<span class="at"></span><button data-stepper="next">next ▶</button>'
        '<button data-stepper="last">⏭</button><button data-stepper="all">all steps</button></p>'
        f'<ol class="steps">{"".join(steps) or "<li class=muted>no steps</li>"}</ol></div>')


def _args(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def workers_html(progress: dict | None) -> str:
    """The loop's status line and worker table from RUN/progress.json."""
    if not progress:
        return inert('<p class="muted">No progress recorded (a run writes RUN/progress.json while it works).</p>')

    def num(key: str) -> float | None:
        value = progress.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    spent, budget, left = num("spent_usd"), num("budget_usd"), num("seconds_left")
    state = "finished" if progress.get("finished") is True else e(progress.get("phase", ""))
    best = progress.get("best_node")
    line = (f'<p class="status">{state} · iteration {e(progress.get("iteration", "?"))}/'
            f'{e(progress.get("iterations", "?"))} · best {fmt_score(num("best_score"))}'
            f'{" (node " + e(best) + ")" if best is not None else ""} · spent ${spent or 0:.4f}'
            f'{f" of ${budget:.2f}" if budget else ""}{f" · {left / 60:.1f} min left" if left is not None else ""}'
            f' · <span class="muted">as of {e(progress.get("updated_at", "?"))}</span></p>')
    rows = []
    workers = progress.get("workers") if isinstance(progress.get("workers"), list) else []
    for w in workers[:64]:
        if isinstance(w, dict):
            secs = w.get("seconds")
            secs = f"{secs:.0f} s" if isinstance(secs, (int, float)) else ""
            rows.append(f'<tr><td class="mono">{e(w.get("worker", ""))}</td><td>{e(w.get("doing", ""))}</td>'
                        f'<td class="num">{secs}</td></tr>')
    table = ('<table class="workers"><thead><tr><th>worker</th><th>doing</th><th>for</th></tr></thead><tbody>'
             + ("".join(rows) or '<tr><td colspan="3" class="muted">idle</td></tr>') + "</tbody></table>")
    recent = progress.get("recent") if isinstance(progress.get("recent"), list) else []
    log = "".join(f"<div>{e(line)}</div>" for line in recent[-5:] if isinstance(line, str))
    return inert(line + table + (f'<div class="recent mono">{log}</div>' if log else ""))
