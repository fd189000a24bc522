"""Grading: a test run judged by swebench's own log parsers and `get_eval_report`."""

from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dgm.bench.instances import TaskInstance
from dgm.bench.patches import screen_patch
from dgm.bench.store import TaskEnvironment
from dgm.bench.tamper import tamper_findings
from dgm.errors import BenchError


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass
class EvalResult:
    """The verdict on one patch; `report` is the official harness's report.json content."""

    instance_id: str
    resolved: bool
    patch_applied: bool
    empty_patch: bool
    tests_status: dict  # {"FAIL_TO_PASS": {"success": [...], "failure": [...]}, "PASS_TO_PASS": {...}, ...}
    report: dict  # {instance_id: {"patch_is_None", "patch_exists", "patch_successfully_applied", "resolved", ...}}
    log: str
    seconds: float
    error: str | None = None
    # Why the run is not believed (the grader's cross-checks); any entry makes `error` and unresolves.
    integrity: list[str] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)  # static check of the patch (tamper.Finding)
    dropped: list[list[str]] = field(default_factory=list)  # [path, why] removed from the patch

    def to_dict(self) -> dict:
        return asdict(self)


def parser_key(name: str, repo: str = "") -> str:
    """swebench PARSER_REGISTRY key for a repo name ("pallets/flask") or a parser name ("pytest")."""
    import importlib

    from swebench.harness.log_parsers import PARSER_REGISTRY

    by_repo: dict = {}
    for lang in ("python", "javascript", "java", "go", "rust", "c", "php", "ruby"):
        try:
            module = importlib.import_module(f"swebench.harness.log_parsers.{lang}")
        except ImportError:
            continue
        for attr in dir(module):
            if attr.startswith("MAP_REPO_TO_PARSER"):
                by_repo.update(getattr(module, attr))
    for candidate in (name, repo):
        if candidate in by_repo:
            fn = by_repo[candidate]
            keys = [key for key, value in PARSER_REGISTRY.items() if value is fn]
            own = f"parse_log_{candidate.rsplit('/', 1)[-1]}"  # aliases share one function
            if keys:
                return own if own in keys else keys[0]
    for candidate in (name, f"parse_log_{name}"):
        if candidate in PARSER_REGISTRY:
            return candidate
    raise BenchError(f"no swebench log parser named {name!r}",
                     hint="use a repo in swebench's per-repo map or a parser such as 'pytest'")


def test_spec(instance: TaskInstance, env: TaskEnvironment):
    """swebench's TestSpec, built here: 5.x make_test_spec needs fields Lite rows lack."""
    from swebench.types import TestSpec

    return TestSpec(
        instance_id=instance.instance_id, image=env.image,
        eval_script_list=[f"cd {env.repo_dir}", env.test_command],
        repo=instance.repo, version=instance.version,
        FAIL_TO_PASS=list(instance.FAIL_TO_PASS), PASS_TO_PASS=list(instance.PASS_TO_PASS),
        log_parser=parser_key(env.log_parser, instance.repo), eval_type="pass_and_fail",
    )


def judge(instance: TaskInstance, env: TaskEnvironment, model_patch: str | None, log: str,
          *, model_name: str = "dgm") -> dict:
    """The official report for a framed log: swebench's get_eval_report decides."""
    from swebench.harness.grading import get_eval_report

    prediction = {"instance_id": instance.instance_id, "model_name_or_path": model_name,
                  "model_patch": model_patch}
    with tempfile.NamedTemporaryFile("w", suffix=".log", encoding="utf-8") as f:
        f.write(log)
        f.flush()
        return get_eval_report(test_spec(instance, env), prediction, f.name, include_tests_status=True)


def status_map(instance: TaskInstance, env: TaskEnvironment, log: str) -> tuple[dict[str, str], bool]:
    """swebench's per-test status map of a framed log, and whether any results were found."""
    from swebench.harness.grading import get_logs_eval

    with tempfile.NamedTemporaryFile("w", suffix=".log", encoding="utf-8") as f:
        f.write(log)
        f.flush()
        return get_logs_eval(test_spec(instance, env), f.name)


def empty_report(instance_id: str) -> dict:
    """The report of an empty patch: nothing to apply, nothing run (as the harness skips it)."""
    return {instance_id: {"patch_is_None": False, "patch_exists": False,
                          "patch_successfully_applied": False, "resolved": False}}


def _integrity(instance: TaskInstance, env: TaskEnvironment, run) -> list[str]:
    """Disagreements between what the parser read and the channels the tests cannot forge alone."""
    from swebench.harness.log_parsers import PARSER_REGISTRY

    from dgm.bench.crosscheck import crosscheck

    problems = list(run.integrity)
    if run.error or run.plan is None:
        return problems
    spec = test_spec(instance, env)
    parser = PARSER_REGISTRY[spec.log_parser]
    return problems + crosscheck(run.output, run.exit_code, run.plan.kind, lambda text: parser(text, spec),
                                 guard=run.guard, guard_expected=run.plan.guarded,
                                 graded=frozenset(instance.FAIL_TO_PASS) | frozenset(instance.PASS_TO_PASS))


def grade(instance: TaskInstance, env: TaskEnvironment, model_patch: str, *, run_id: str,
          limits=None, model_name: str = "dgm") -> EvalResult:
    """Grade MODEL_PATCH in a fresh sandbox; a patch that does not apply is a result, not an error."""
    from dgm.bench.testrun import run_tests

    if env.log_parser:
        parser_key(env.log_parser, instance.repo)  # a bad parser name fails before any sandbox
    iid = instance.instance_id
    if not (model_patch or "").strip():
        return EvalResult(iid, False, False, True, {}, empty_report(iid), "", 0.0, "empty patch")
    findings = [f.to_dict() for f in tamper_findings(model_patch, instance.repo)]
    screened = screen_patch(model_patch, instance.test_patch, instance.repo)
    dropped = [list(d) for d in screened.dropped]
    # A patch that only edits test files runs like any other, as in the official harness (whose
    # eval script then puts the hidden tests in place): the code under test is unchanged, so it
    # is graded, and unresolved, not counted as an empty patch.
    tests_only = not screened.refused and not screened.text.strip()
    started = time.monotonic()
    run = run_tests(instance, env, model_patch, run_id=run_id, limits=limits)
    if tests_only and run.plan is not None:
        run.patch_applied = True  # nothing of it is left to apply; the tests ran
        run.log = ("dgm: every block of the model patch edits a test or runner file and was dropped "
                   "(dgm_checks.json names them); the tests run on the unchanged code\n") + run.log
    report = judge(instance, env, model_patch, run.log, model_name=model_name)
    row = report[iid]
    integrity = _integrity(instance, env, run) if run.patch_applied or not screened.text else []
    integrity += [f"the patch tampers with the test runner: {f['what']} ({f['path']})"
                  for f in findings if f.get("blocking")]
    integrity = [_CONTROL.sub("?", p)[:1000] for p in integrity]  # parts came from the sandbox or the patch
    error = run.error
    log = run.log
    if integrity:
        row["resolved"] = False
        row["dgm_integrity"] = integrity
        error = error or "the run is not believed: " + integrity[0]
        log += "".join(f">>>>> dgm integrity: {p}\n" for p in integrity)
    return EvalResult(
        instance_id=iid, resolved=bool(row.get("resolved")) and not integrity,
        patch_applied=run.patch_applied, empty_patch=False,
        tests_status=row.get("tests_status", {}), report=report, log=log,
        seconds=time.monotonic() - started, error=error, integrity=integrity, findings=findings,
        dropped=dropped,
    )


def write_result(result: EvalResult, out_dir: Path, model_patch: str) -> Path | None:
    """The harness's per-instance files: patch.diff, test_output.txt, and report.json.

    Like the official harness, report.json exists only when the tests ran: an empty patch
    or one that does not apply leaves none, so swebench's run report counts it the same way.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "patch.diff").write_text(model_patch or "")
    if result.empty_patch:
        return None
    (out_dir / "test_output.txt").write_text(result.log)
    if result.integrity or result.findings or result.dropped:
        (out_dir / "dgm_checks.json").write_text(json.dumps(
            {"integrity": result.integrity, "findings": result.findings, "dropped": result.dropped}, indent=2) + "\n")
    if not result.patch_applied or result.error:
        return None
    (out_dir / "report.json").write_text(json.dumps(result.report, indent=4) + "\n")
    return out_dir / "report.json"
