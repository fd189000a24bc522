"""`dgm analyze`: every instrument over one run's archive, finished or running, as one dict."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Mapping

from dgm.archive.node import Node
from dgm.science import calibration, diversity, novelty, predictions, verifiers
from dgm.science.heldout import scores as heldout_scores


def pairs_of(results: Mapping[str, Any]) -> list[calibration.Pair]:
    """(the model's P(resolved), resolved) for every graded task run that has a verification."""
    out = []
    for r in results.values():
        v = r.get("verification") if isinstance(r, dict) else None
        if isinstance(v, dict) and isinstance(v.get("p"), (int, float)) and not isinstance(v.get("p"), bool):
            out.append((float(v["p"]), bool(r.get("resolved"))))
    return out


def repo_of(instance_id: str) -> str:
    """SWE-bench ids are owner__repo-number: the repository part."""
    return instance_id.rsplit("-", 1)[0] if "-" in instance_id else instance_id


def lineage(nodes: list[Node]) -> list[Node]:
    """The path from the seed to the best admitted agent."""
    by_id = {n.id: n for n in nodes}
    best = diversity.ranked(nodes)[:1]
    path = []
    node = best[0] if best else by_id.get("0")
    while node is not None:
        path.append(node)
        node = by_id.get(node.parent_id) if node.parent_id is not None else None
    return path[::-1]


def load_facts(run_dir: Path) -> dict[str, verifiers.TaskFacts]:
    """Repositories and hidden test names of the run's dataset (from RUN/config.toml), when readable."""
    import tomllib

    try:
        config = tomllib.loads((run_dir / "config.toml").read_text(encoding="utf-8"))
        from dgm.bench.instances import load_instances

        rows = load_instances(Path(config["dataset"]["path"]))
    except Exception:  # noqa: BLE001 — a moved dataset only weakens the literal check
        return {}
    return verifiers.facts_of({r.instance_id: r for r in rows})


def verification_usage(nodes: list[Node]) -> dict:
    """The instruments' own cost against the task runs': tokens and seconds of the verification calls."""
    runs = [r for n in nodes for r in n.results.values() if isinstance(r, dict) and not r.get("cached")]
    checked = [r["verification"] for r in runs if isinstance(r.get("verification"), dict)]
    task_tokens = sum(int(r.get("tokens_in") or 0) + int(r.get("tokens_out") or 0) for r in runs)
    verify_tokens = sum(int(v.get("tokens_in") or 0) + int(v.get("tokens_out") or 0) for v in checked)
    return {"task_runs": len(runs), "verified_runs": len(checked), "task_tokens": task_tokens,
            "verify_tokens": verify_tokens, "verify_usd": round(sum(float(v.get("cost_usd") or 0) for v in checked), 6),
            "verify_seconds": round(sum(float(v.get("seconds") or 0) for v in checked), 3),
            "task_seconds": round(sum(float(r.get("seconds") or 0) for r in runs), 3),
            "token_share": (verify_tokens / task_tokens) if task_tokens else None}


def analysis(archive: Any, facts: Mapping[str, verifiers.TaskFacts] | None = None) -> dict:
    """Everything, as plain JSON-able data."""
    nodes = archive.nodes()
    facts = load_facts(archive.path) if facts is None else facts
    by_id = {n.id: n for n in nodes}
    all_pairs: list[calibration.Pair] = []
    by_repo: dict[str, list] = {}
    by_agent = {}
    for n in nodes:
        pairs = pairs_of(n.results)
        all_pairs += pairs
        if pairs:
            by_agent[n.id] = calibration.quality(pairs).to_dict()
        for iid, r in n.results.items():
            p = pairs_of({iid: r})
            by_repo.setdefault(repo_of(iid), []).extend(p)
    preds = []
    for n in nodes:
        d = n.diagnosis or {}
        if n.parent_id is None or n.parent_id not in by_id or not n.results:
            continue
        fix, brk = predictions.id_list(d.get("expected_fix")), predictions.id_list(d.get("may_break"))
        s = predictions.score(by_id[n.parent_id].results, n.results, fix, brk)
        preds.append({"node": n.id, "parent": n.parent_id, **s.to_dict()})
    # The row recorded at each child's verdict (what the gate saw); computed afresh for runs made before
    # the verdicts were recorded.
    table = {n.id: verifiers.recorded(archive.path / "artifacts" / n.id / "verifiers.json")
             or verifiers.verdicts(archive, n, facts) for n in nodes if n.id != "0" and n.status != "pending"
             and (n.results or (archive.path / "artifacts" / n.id / "stage0").is_dir())}
    snaps = diversity.history(nodes)
    ranked = diversity.ranked(nodes)
    best = ranked[0] if ranked else None
    return {
        "run": str(archive.path),
        "nodes": len(nodes),
        "verification": {
            "overall": calibration.quality(all_pairs).to_dict(),
            "curve": calibration.curve(all_pairs),
            "by_agent": by_agent,
            "by_repo": {k: calibration.quality(v).to_dict() for k, v in sorted(by_repo.items()) if v},
            "lineage": [{"node": n.id, "generation": n.generation, **calibration.quality(pairs_of(n.results)).to_dict()}
                        for n in lineage(nodes)],
        },
        "predictions": preds,
        "predictions_total": _prediction_totals(preds),
        "diversity": [s.to_dict() for s in snaps],
        "collapse_alarm": any(s.alarm for s in snaps),
        "verifiers": {k: [v.to_dict() for v in row] for k, row in table.items()},
        "non_overlap": verifiers.non_overlap(table),
        "novelty": novelty.novelty([n for n in nodes if n.status == "admitted" and n.results]),
        "heldout": {"seed": heldout_scores(by_id["0"]) if "0" in by_id else {},
                    "best": heldout_scores(best) if best is not None else {},
                    "best_id": best.id if best is not None else None},
        "cost": verification_usage(nodes),
    }


def _prediction_totals(preds: list[dict]) -> dict:
    """Micro-averaged over every scored self-edit."""
    fixed = sum(len(p["fixed"]) for p in preds)
    broken = sum(len(p["broken"]) for p in preds)
    predicted = sum(len(p["fix_scored"]) for p in preds)
    fix_hits = sum(len(set(p["expected_fix"]) & set(p["fixed"])) for p in preds)
    break_hits = sum(len(set(p["may_break"]) & set(p["broken"])) for p in preds)
    return {"edits": len(preds), "fixed": fixed, "broken": broken,
            "fix_precision": fix_hits / predicted if predicted else None,
            "fix_recall": fix_hits / fixed if fixed else None,
            "break_recall": break_hits / broken if broken else None}


def rows(data: dict) -> list[tuple[str, str, str, Any]]:
    """The analysis flattened to (section, item, quantity, value) rows for tables and CSV."""
    out: list[tuple[str, str, str, Any]] = []
    v = data["verification"]
    for k, val in v["overall"].items():
        out.append(("verification", "overall", k, val))
    for node, q in v["by_agent"].items():
        out += [("verification", f"node {node}", k, val) for k, val in q.items()]
    for repo, q in v["by_repo"].items():
        out += [("verification", f"repo {repo}", k, val) for k, val in q.items()]
    for b in v["curve"]:
        out.append(("calibration", f"[{b['lo']:.1f},{b['hi']:.1f})", "mean_p/resolved/n",
                    f"{b['mean_p']:.3f}/{b['resolved']:.3f}/{b['n']}"))
    for q in v["lineage"]:
        out.append(("lineage", f"node {q['node']} (gen {q['generation']})", "gap", q["gap"]))
    for k, val in data["predictions_total"].items():
        out.append(("predictions", "total", k, val))
    for p in data["predictions"]:
        out += [("predictions", f"node {p['node']}", k, p[k]) for k in ("fix_precision", "fix_recall", "break_recall")]
    for s in data["diversity"]:
        item = f"after node {s['node_id']}"
        out += [("diversity", item, f"pass@{k}", val) for k, val in s["pass_at"].items()]
        out += [("diversity", item, k, s[k]) for k in ("coverage", "jaccard", "distinct", "alarm")]
    out.append(("diversity", "run", "collapse_alarm", data["collapse_alarm"]))
    for node, row in data["verifiers"].items():
        out += [("verifiers", f"node {node}", r["name"], r["passed"]) for r in row]
    for a, row in data["non_overlap"].items():
        out += [("non_overlap", a, b, n) for b, n in row.items() if a != b]
    out += [("novelty", f"node {k}", "novelty", val) for k, val in data["novelty"].items()]
    for who in ("seed", "best"):
        out += [("heldout", who, k, val) for k, val in data["heldout"][who].items()]
    out += [("cost", "verification", k, val) for k, val in data["cost"].items()]
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_cell(x) for x in value) + "]"
    return str(value)


def render(data: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, default=str) + "\n"
    table = rows(data)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(("section", "item", "quantity", "value"))
        writer.writerows((s, i, q, "" if v is None else json.dumps(v) if isinstance(v, (list, tuple)) else v)
                         for s, i, q, v in table)
        return buf.getvalue()
    widths = [max([len(str(r[c])) for r in table] + [8]) for c in range(3)]
    lines, last = [], None
    for s, i, q, v in table:
        if s != last:
            lines.append(f"\n== {s} ==")
            last = s
        lines.append(f"  {i:<{widths[1]}}  {q:<{widths[2]}}  {_cell(v)}")
    return "\n".join(lines).lstrip("\n") + "\n"
