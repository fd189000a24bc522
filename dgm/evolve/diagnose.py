"""Diagnosis: a model reads the parent's code and failed runs and says what to improve, as checked JSON."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

from dgm.artifacts import ArtifactInvalid, Trajectory, read_regular, read_trajectory
from dgm.errors import BudgetExceeded, ModelError
from dgm.evolve.items import DiagnoseItem, DiagnoseOutcome
from dgm.science.predictions import id_list

FIELDS = ("observations", "improvement", "implementation_plan", "problem_statement")
PREDICTIONS = ("expected_fix", "may_break")  # optional task-id lists, scored after the child's evaluation
MARKER = "You diagnose a self-improving coding agent."

SYSTEM = MARKER + """
The agent is a Python program that fixes issues in code repositories by talking to a language
model and calling tools. You read its code and the records of tasks it failed, find one
general weakness, and write a task that makes the agent better at such tasks. That task will be
given to the agent itself, working on a copy of its own code.

Answer with one JSON object and nothing else:
{"observations": "what went wrong in the failed runs, with evidence",
 "improvement": "one general improvement to the agent (not a fix for one task)",
 "implementation_plan": "how to change the agent's code, file by file",
 "problem_statement": "the task for the agent: a self-contained issue describing the change to make to its own code; the agent's own tests (tests/) must keep passing",
 "expected_fix": ["ids of the listed tasks this change should make the agent resolve"],
 "may_break": ["ids of the listed resolved tasks this change might make it fail"]}"""

CORRECTION = ("Your answer was not a JSON object with exactly these string fields: " + ", ".join(FIELDS)
              + " ({problem}). Answer again with only that JSON object.")

MAX_FILE_CHARS = 12000
MAX_CODE_CHARS = 48000
MAX_TRAJECTORY_CHARS = 8000
MAX_LOG_CHARS = 3000
MAX_FAILURES = 3


def validate(text: str | None) -> tuple[dict | None, str]:
    """The diagnosis in an answer (bare or fenced JSON), or None and what is wrong with it."""
    if not text or not text.strip():
        return None, "the answer was empty"
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", body, re.S)
    if fenced:
        body = fenced.group(1)
    elif not body.startswith("{"):
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            return None, "no JSON object found"
        body = body[start:end + 1]
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at line {exc.lineno}"
    if not isinstance(data, dict):
        return None, "the JSON is not an object"
    missing = [f for f in FIELDS if not isinstance(data.get(f), str) or not data[f].strip()]
    if missing:
        return None, "missing or empty: " + ", ".join(missing)
    return {**{f: data[f].strip() for f in FIELDS}, **{f: id_list(data.get(f)) for f in PREDICTIONS}}, ""


def run_diagnosis(item: DiagnoseItem, gateway: Any) -> DiagnoseOutcome:
    """Ask, check, and re-ask up to item.retries times with the reason the answer was refused."""
    messages = [dict(m) for m in item.messages]
    answers: list[str] = []
    usage = {"tokens_in": 0, "tokens_out": 0, "calls": 0}
    started = time.monotonic()
    problem = ""
    for attempt in range(1, item.retries + 2):
        try:
            response = gateway.complete("diagnose", messages, account=item.account)
        except BudgetExceeded as exc:
            return DiagnoseOutcome(None, f"over budget: {exc}", attempt, answers, usage, time.monotonic() - started)
        except ModelError as exc:
            return DiagnoseOutcome(None, f"model error: {exc}", attempt, answers, usage, time.monotonic() - started)
        message = (response.get("choices") or [{}])[0].get("message") or {}
        text = message.get("content") or ""
        u = response.get("usage") or {}
        usage["tokens_in"] += int(u.get("prompt_tokens") or 0)
        usage["tokens_out"] += int(u.get("completion_tokens") or 0)
        usage["calls"] += 1
        answers.append(text)
        diagnosis, problem = validate(text)
        if diagnosis is not None:
            return DiagnoseOutcome(diagnosis, None, attempt, answers, usage, time.monotonic() - started)
        messages += [{"role": "assistant", "content": text},
                     {"role": "user", "content": CORRECTION.format(problem=problem)}]
    return DiagnoseOutcome(None, f"malformed diagnosis after {len(answers)} answers: {problem}",
                           len(answers), answers, usage, time.monotonic() - started)


def build_messages(parent_tree: Path, parent_artifacts: Path, results: dict[str, dict],
                   problems: dict[str, str], *, iteration: int, slot: int, slots: int,
                   parent_id: str) -> list[dict]:
    """The diagnose conversation for one child slot of a parent."""
    failures = [iid for iid, r in sorted(results.items()) if not (isinstance(r, dict) and r.get("resolved"))]
    # Rotate so that children of one parent look at different failures first.
    if failures:
        shift = (slot - 1) % len(failures)
        failures = failures[shift:] + failures[:shift]
    parts = [f"Run context: iteration {iteration}, proposal {slot} of {slots} for parent node {parent_id}. "
             "Propose an improvement different from what other proposals would likely choose.",
             "## The agent's code\n" + code_summary(parent_tree),
             task_ids(results)]
    if failures:
        for iid in failures[:MAX_FAILURES]:
            parts.append(failure_record(iid, results[iid], problems.get(iid, ""), parent_artifacts / "tasks" / iid))
    else:
        parts.append("## Task records\nThe agent resolved every task it was evaluated on (or none were run). "
                     "Propose an improvement that makes it more robust on harder tasks.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def task_ids(results: dict[str, dict]) -> str:
    """The ids the parent was evaluated on, resolved or not: what expected_fix and may_break name."""
    done = sorted(iid for iid, r in results.items() if isinstance(r, dict) and r.get("resolved"))
    failed = sorted(iid for iid in results if iid not in done)
    return ("## Task ids\nresolved: " + (", ".join(done) or "none") + "\nfailed: " + (", ".join(failed) or "none"))


def code_summary(tree: Path) -> str:
    """A file listing with sizes, then the Python sources (truncated) — the agent reads them as text."""
    files = sorted(p for p in tree.rglob("*") if p.is_file() and not p.is_symlink()
                   and ".git" not in p.relative_to(tree).parts and "__pycache__" not in p.parts)
    lines = ["Files:"] + [f"  {p.relative_to(tree)} ({p.stat().st_size} bytes)" for p in files]
    budget = MAX_CODE_CHARS
    for p in files:
        if p.suffix not in (".py", ".md", ".txt", ".ini", ".toml") or budget <= 0:
            continue
        rel = p.relative_to(tree)
        if rel.parts[0] == "tests":
            continue
        text = _clip(p.read_text(errors="replace"), min(MAX_FILE_CHARS, budget))
        budget -= len(text)
        lines.append(f"\n### {rel}\n```\n{text}\n```")
    return "\n".join(lines)


def failure_record(instance_id: str, result: Any, problem: str, task_dir: Path) -> str:
    """One failed task: the issue, what the agent did (trajectory), its patch, the test log."""
    result = result if isinstance(result, dict) else {}
    why = "empty patch" if result.get("empty_patch") else f"not resolved (agent status {str(result.get('status'))[:40]})"
    if result.get("status") == "crashed" and result.get("reason"):  # e.g. which output broke the agent ABI
        why += f": {str(result['reason'])[:500]}"
    parts = [f"## Failed task {instance_id}: {why}", "### Issue\n" + _clip(str(problem), 3000)]
    trajectory = _trajectory_text(task_dir / "trajectory.json")
    if trajectory:
        parts.append("### Trajectory (truncated)\n" + _clip(trajectory, MAX_TRAJECTORY_CHARS))
    patch = _read(task_dir / "patch.diff", 200_000)
    parts.append("### The agent's patch\n" + (_clip(patch, 3000) if patch.strip() else "(empty)"))
    log = _read(task_dir / "eval.log", 2_000_000)
    if log:
        parts.append("### Evaluation log (tail)\n" + log[-MAX_LOG_CHARS:])
    return "\n".join(parts)


def _trajectory_text(path: Path) -> str:
    """The conversation of a trajectory file, checked against its schema; what is wrong with it otherwise."""
    try:
        trajectory = read_trajectory(path)
    except FileNotFoundError:
        return ""
    except ArtifactInvalid as exc:
        return f"(unusable: {exc.about('trajectory.json')})"
    return conversation_text(trajectory)


def conversation_text(trajectory: Trajectory) -> str:
    """The messages after the system prompt, one line each, long texts and arguments clipped."""
    lines = []
    for m in trajectory.messages:
        if m.role == "system":
            continue
        calls = " ".join(
            f"[{t.name}({_clip(t.arguments if isinstance(t.arguments, str) else json.dumps(t.arguments), 300)})]"
            for t in m.tool_calls)
        lines.append(f"{m.role}: {_clip(m.text() or '', 600)} {calls}".rstrip())
    return "\n".join(lines)


def _read(path: Path, limit: int) -> str:
    """The head of a regular file as text ("" when missing, a link, a FIFO, a device)."""
    try:
        return read_regular(path, limit, head=True).decode(errors="replace")
    except (OSError, ArtifactInvalid):
        return ""


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return text[:half] + f"\n[... {len(text) - limit} characters elided ...]\n" + text[-half:]
