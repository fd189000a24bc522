"""Per-node panels of the report, rendered on the host with every agent/model string escaped."""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

from dgm.report.model import NodeView, RunView, TaskRow


def e(value: Any) -> str:
    """Escape anything for HTML text or a quoted attribute."""
    return escape(str(value), quote=True)


def fmt_score(score: float | None) -> str:
    return "–" if score is None else f"{score:.3f}"


def node_link(node_id: str | None) -> str:
    if node_id is None:
        return "–"
    return f'<a href="#node-{e(node_id)}" class="goto" data-goto="{e(node_id)}">{e(node_id)}</a>'


def status_badge(status: str) -> str:
    kind = "admitted" if status == "admitted" else "pending" if status == "pending" else "rejected"
    return f'<span class="badge {kind}">{e(status)}</span>'


def diff_stats(diff: str) -> tuple[int, int, int]:
    """(files, added lines, removed lines) of a unified diff."""
    files = added = removed = 0
    for line in diff.splitlines():
        if line.startswith("diff --git"):
            files += 1
        elif line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return files, added, removed


def diff_html(diff: str) -> str:
    """A unified diff as a <pre>, each line a span classed by its kind."""
    rows = []
    for line in diff.splitlines():
        if line.startswith(("diff --git", "index ", "+++ b/", "+++ /dev/null", "--- a/", "--- /dev/null",
                            "new file", "deleted file", "similarity", "rename ", "old mode", "new mode",
                            "Binary files")):
            cls = "d-file"
        elif line.startswith("@@"):
            cls = "d-hunk"
        elif line.startswith("+"):
            cls = "d-add"
        elif line.startswith("-"):
            cls = "d-del"
        else:
            cls = "d-ctx"
        # The newline sits inside the block-level span: copy-paste keeps lines, spacing stays single.
        rows.append(f'<span class="{cls}">{e(line)}\n</span>')
    return '<pre class="diff">' + "".join(rows) + "</pre>"


def _value_html(value: Any) -> str:
    if isinstance(value, str):
        return f'<div class="text">{e(value)}</div>'
    return f'<pre class="json">{e(json.dumps(value, indent=2, ensure_ascii=False, default=str))}</pre>'


def diagnosis_html(diagnosis: dict | None) -> str:
    if not diagnosis:
        return '<p class="muted">No diagnosis recorded (the seed, or a node made without one).</p>'
    items = "".join(f"<dt>{e(k)}</dt><dd>{_value_html(v)}</dd>" for k, v in diagnosis.items())
    return f'<dl class="diagnosis">{items}</dl>'


def tasks_html(tasks: list[TaskRow], link_prefix: str | None = None) -> str:
    if not tasks:
        return '<p class="muted">No task results.</p>'
    rows = []
    for t in tasks:
        verdict = '<span class="ok">resolved</span>' if t.resolved else '<span class="bad">unresolved</span>'
        notes = []
        if t.empty_patch:
            notes.append("empty patch")
        if t.result.get("patch_applied") is False and not t.empty_patch:
            notes.append("patch did not apply")
        if t.result.get("status") not in (None, "", "submitted"):
            notes.append(f"agent: {t.result['status']}")
        if t.result.get("cached"):
            notes.append("cached")
        if t.result.get("error"):
            notes.append(f"error: {t.result['error']}")
        failing = ""
        if t.failing:
            shown = ", ".join(t.failing[:8]) + (f" … (+{len(t.failing) - 8})" if len(t.failing) > 8 else "")
            failing = f'<div class="failing">failing: {e(shown)}</div>'
        links = ""
        if link_prefix is not None and t.files:
            links = '<div class="files">' + " · ".join(
                f'<a href="{e(link_prefix + quote(f))}">{e(f.rsplit("/", 1)[-1])}</a>' for f in t.files) + "</div>"
        rows.append(f"<tr class=\"{'res' if t.resolved else 'unres'}\"><td class=\"mono\">{e(t.instance_id)}</td>"
                    f"<td>{e('' if t.stage is None else t.stage)}</td><td>{verdict}</td>"
                    f"<td>{e('; '.join(notes))}{failing}{links}</td></tr>")
    resolved = sum(1 for t in tasks if t.resolved)
    return (f'<p>{resolved} of {len(tasks)} resolved.</p><table class="tasks"><thead><tr><th>instance</th>'
            f"<th>stage</th><th>result</th><th>notes</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def record_html(view: RunView, nv: NodeView) -> str:
    """The record's key facts; commit, timestamps and meta fold away under "details"."""
    node = nv.node
    kids = [v.node.id for v in view.nodes if v.node.parent_id == node.id]
    stage = ", ".join(f"stage {k}: {fmt_score(v)}" for k, v in sorted(node.stage_scores.items()))
    rows = [
        ("score", f"<b>{fmt_score(node.score)}</b> ({sum(1 for t in nv.tasks if t.resolved)}/{len(nv.tasks)} "
                  f"resolved){' · ' + e(stage) if stage else ''}"),
        ("parent", node_link(node.parent_id)),
        ("children", ", ".join(node_link(k) for k in kids) or "–"),
        ("generation", f"{e(node.generation)} · iteration {e(nv.iteration)}"),
        ("spent", f"${float(node.cost_usd or 0):.4f} · {int(node.tokens_in or 0):,} tokens in, "
                  f"{int(node.tokens_out or 0):,} out · {float(node.wall_seconds or 0):.1f} s"),
    ]
    details = [
        ("status", e(node.status)),
        ("commit", f'<span class="mono">{e(node.commit)}</span>'),
        ("created", e(node.created_at)),
        ("updated", e(node.updated_at)),
    ]
    if node.meta:
        details.append(("meta", _value_html(node.meta)))

    def table(items: list[tuple[str, str]]) -> str:
        return '<table class="record">' + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in items) + "</table>"

    return table(rows), f"<details><summary>Record details</summary>{table(details)}</details>"


def panel_html(view: RunView, nv: NodeView) -> str:
    """The panel shown when a node is clicked: record, task, diff against the parent, diagnosis, tasks."""
    node = nv.node
    crumbs = " → ".join(node_link(p) for p in _ancestry(view, node.id))
    best = ' <span class="badge best">best</span>' if node.id == view.best_id else ""
    files, added, removed = diff_stats(nv.diff)
    if node.parent_id is None:
        diff_part = '<p class="muted">The root has no parent to compare with.</p>'
    elif not nv.diff:
        diff_part = '<p class="muted">Identical to its parent.</p>'
    else:
        note = '<p class="warn">Diff cut for size; see <code>dgm archive diff</code>.</p>' if nv.diff_truncated else ""
        diff_part = (f'<p>{files} file(s), <span class="ok">+{added}</span> <span class="bad">−{removed}</span> '
                     f"against node {node_link(node.parent_id)}</p>{note}{diff_html(nv.diff)}")
    task = (f'<div class="text task">{e(node.improvement_task)}</div>' if node.improvement_task
            else '<p class="muted">None recorded.</p>')
    record, details = record_html(view, nv)
    if view.link_prefix is not None and nv.selfmod_files:
        task += ('<div class="files">the self-modification run: ' + " · ".join(
            f'<a href="{e(view.link_prefix + quote(f))}">{e(f.rsplit("/", 1)[-1])}</a>' for f in nv.selfmod_files)
            + "</div>")
    return (
        f'<article class="panel" id="panel-{e(node.id)}" data-node="{e(node.id)}" hidden>'
        f"<h2>Node {e(node.id)} {status_badge(node.status)}{best}</h2>"
        f'<p class="crumbs">lineage: {crumbs}</p>'
        f"{record}"
        f"<h3>Improvement task</h3>{task}"
        f'<h3>Diff against its parent</h3><div class="diff-wrap">{diff_part}</div>'
        f"<h3>Diagnosis</h3>{diagnosis_html(nv.diagnosis)}"
        f"<h3>Task results</h3>{tasks_html(nv.tasks, view.link_prefix)}"
        f"{details}"
        "</article>"
    )


def _ancestry(view: RunView, node_id: str) -> list[str]:
    from dgm.report.layout import path_to_root

    return path_to_root(view.parents, node_id)


def first_line(text: str | None, limit: int = 140) -> str:
    """The first non-empty line of a text, cut to `limit` characters."""
    for line in (text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def best_path_html(view: RunView) -> str:
    """The steps from the seed to the best agent: score and what each step changed."""
    if not view.best_path:
        return '<p class="muted">No admitted node has a score yet.</p>'
    by_id = view.by_id()
    rows = []
    for node_id in view.best_path:
        nv = by_id[node_id]
        _, added, removed = diff_stats(nv.diff)
        change = first_line(nv.node.improvement_task) or ("the seed agent" if nv.node.parent_id is None else "")
        rows.append(f"<tr><td>{node_link(node_id)}</td><td>{e(nv.node.generation)}</td>"
                    f"<td>{fmt_score(nv.node.score)}</td><td class=\"num\"><span class=\"ok\">+{added}</span> "
                    f"<span class=\"bad\">−{removed}</span></td><td>{e(change)}</td></tr>")
    return ('<table class="path"><thead><tr><th>node</th><th>gen</th><th>score</th><th>lines</th>'
            f"<th>what the step set out to change</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")
