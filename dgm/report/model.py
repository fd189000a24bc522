"""What a report shows, gathered once from an archive and its run directory."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dgm.errors import DgmError
from dgm.report.artifacts import failing_tests, read_json, read_jsonl
from dgm.report.layout import path_to_root, sort_key
from dgm.report.stats import RunStats, best_node, run_stats

MAX_DIFF_CHARS = 300_000
TASK_FILES = ("trajectory.json", "patch.diff", "eval.log")
SELFMOD_FILES = ("trajectory.json", "patch.diff", "agent.log")


@dataclass
class TaskRow:
    """One task result of a node, with the failing tests its grading report names."""

    instance_id: str
    resolved: bool
    stage: Any
    empty_patch: bool
    result: dict
    failing: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)   # artifact files present, relative to the run directory


@dataclass
class NodeView:
    """One node as the report shows it."""

    node: Any                      # dgm.archive.Node
    iteration: int
    diff: str
    diff_truncated: bool
    diagnosis: dict | None
    tasks: list[TaskRow]
    selfmod_files: list[str] = field(default_factory=list)   # the self-modification run's artifacts


@dataclass
class CallPoint:
    """One recorded model call: when, tokens and dollars."""

    at: datetime | None
    tokens_in: int
    tokens_out: int
    cost_usd: float
    account: str


@dataclass
class RunView:
    """Everything a report needs: nodes in id order, the best node and its ancestry, calls, stats."""

    run_dir: Path
    nodes: list[NodeView]
    best_id: str | None
    best_path: list[str]
    calls: list[CallPoint]
    stats: RunStats
    link_prefix: str | None = None   # from the report's folder to the run directory; None: no file links

    def by_id(self) -> dict[str, NodeView]:
        return {v.node.id: v for v in self.nodes}

    @property
    def parents(self) -> dict[str, str | None]:
        return {v.node.id: v.node.parent_id for v in self.nodes}


def run_dir_of(archive: Any) -> Path:
    """The run directory of an archive object (its `path`/`root`, else the artifacts' parent)."""
    for name in ("path", "root", "run_dir"):
        value = getattr(archive, name, None)
        if isinstance(value, (str, Path)):
            return Path(value)
    return Path(archive.artifacts_dir("0")).parent.parent


def collect(archive: Any, *, with_diffs: bool = True, with_tasks: bool = True) -> RunView:
    """Read nodes, diffs, diagnoses, task results and recorded calls from the archive.

    Without `with_tasks`, nodes carry no task rows or artifact files (no file is looked at per node):
    what a live view needs for its tree and plots, with node_view() for the one node shown."""
    run_dir = run_dir_of(archive)
    nodes = sorted(archive.nodes(), key=lambda n: sort_key(n.id))
    iterations = _iterations(nodes)
    views = [_node_view(archive, run_dir, n, iterations[n.id], with_diffs) if with_tasks
             else NodeView(node=n, iteration=iterations[n.id], diff="", diff_truncated=False,
                           diagnosis=n.diagnosis, tasks=[])
             for n in nodes]
    best = best_node(nodes)
    parents = {n.id: n.parent_id for n in nodes}
    calls = list(_calls(run_dir / "llm_calls.jsonl"))
    return RunView(run_dir=run_dir, nodes=views, best_id=best.id if best else None,
                   best_path=path_to_root(parents, best.id if best else None), calls=calls,
                   stats=run_stats(nodes, calls_cost=sum(c.cost_usd for c in calls) if calls else None,
                                   calls_tokens=sum(c.tokens_in + c.tokens_out for c in calls) if calls else None))


def _iterations(nodes: list[Any]) -> dict[str, int]:
    """The loop iteration that made each node: meta["iteration"], else its rank in creation order."""
    out: dict[str, int] = {}
    for rank, node in enumerate(nodes):
        value = (node.meta or {}).get("iteration")
        out[node.id] = int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else rank
    return out


def node_view(archive: Any, node: Any, iteration: int) -> NodeView:
    """One node in full: its diff against its parent, diagnosis, task rows and artifact files."""
    return _node_view(archive, run_dir_of(archive), node, iteration, True)


def _node_view(archive: Any, run_dir: Path, node: Any, iteration: int, with_diffs: bool) -> NodeView:
    diff = ""
    if with_diffs and node.parent_id is not None:
        try:
            diff = archive.diff(node.parent_id, node.id)
        except DgmError as exc:  # a damaged archive still gets a report; fsck is the tool for the damage
            diff = f"(no diff: {exc})"
    truncated = len(diff) > MAX_DIFF_CHARS
    node_dir = run_dir / "artifacts" / node.id
    diagnosis = node.diagnosis
    if diagnosis is None:
        on_disk = read_json(node_dir / "diagnosis.json")
        diagnosis = on_disk if isinstance(on_disk, dict) else None
    tasks = []
    for instance_id in sorted(node.results):
        result = node.results[instance_id] if isinstance(node.results[instance_id], dict) else {}
        failing = failing_tests(result)
        if not failing:
            failing = failing_tests(read_json(node_dir / "tasks" / instance_id / "report.json"))
        task_dir = node_dir / "tasks" / instance_id
        files = [f"artifacts/{node.id}/tasks/{instance_id}/{name}" for name in TASK_FILES
                 if (task_dir / name).is_file() and not (task_dir / name).is_symlink()]
        tasks.append(TaskRow(instance_id=instance_id, resolved=bool(result.get("resolved")),
                             stage=result.get("stage"), empty_patch=bool(result.get("empty_patch")),
                             result=result, failing=failing, files=files))
    selfmod = [f"artifacts/{node.id}/selfmod/{name}" for name in SELFMOD_FILES
               if (node_dir / "selfmod" / name).is_file() and not (node_dir / "selfmod" / name).is_symlink()]
    return NodeView(node=node, iteration=iteration, diff=diff[:MAX_DIFF_CHARS], diff_truncated=truncated,
                    diagnosis=diagnosis, tasks=tasks, selfmod_files=selfmod)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value)).astimezone()
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _calls(path: Path) -> list[CallPoint]:
    points = []
    for entry in read_jsonl(path):
        usage = entry.get("usage") if isinstance(entry.get("usage"), dict) else {}
        at = None
        for key in ("ts", "time", "timestamp", "started_at", "created_at", "at"):
            at = _parse_time(entry.get(key))
            if at is not None:
                break
        accounts = entry.get("accounts") or [entry.get("account") or "run"]
        try:
            points.append(CallPoint(at=at, tokens_in=int(usage.get("prompt_tokens") or 0),
                                    tokens_out=int(usage.get("completion_tokens") or 0),
                                    cost_usd=float(entry.get("cost_usd") or 0.0),
                                    account=str(accounts[-1] if isinstance(accounts, list) and accounts else "run")))
        except (TypeError, ValueError):
            continue
    return points
