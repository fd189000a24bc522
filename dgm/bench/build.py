"""Build and validate instances into a BenchStore: recipe → image → validation → manifest row."""

from __future__ import annotations

import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Sequence

from dgm.bench.instances import TaskInstance
from dgm.bench.store import BenchStore, TaskEnvironment
from dgm.errors import DgmError

Progress = Callable[[TaskEnvironment], None]


class _BuildLog:
    """Appends image build progress to logs/<id>/build.log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")

    def __call__(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line.rstrip("\n") + "\n")


def build_instance(instance: TaskInstance, store: BenchStore, *, run_id: str,
                   validate_it: bool = True) -> TaskEnvironment:
    """One instance end to end; every failure becomes a manifest row, never an exception."""
    from dgm.bench import official
    from dgm.bench.environment import build_environment
    from dgm.bench.makers import recipe_for

    logs = store.log_dir(instance.instance_id)
    log = _BuildLog(logs / "build.log")
    started = time.monotonic()
    env = TaskEnvironment(instance.instance_id, image="", repo=instance.repo)
    store.save_instance(instance)
    if official.applies(instance):
        try:
            env.image = official.ensure_official_image(instance, progress=log)
            env.test_command = official.command_from_eval_script(str(instance.extra["eval_script"]))
            env.log_parser = str(instance.extra.get("log_parser") or instance.repo)
            env.notes = {"kind": "official", "official_image": str(instance.extra["image"])}
        except DgmError as exc:  # no registry: the offline rebuild below
            log(f"official image unusable, building offline: {exc}")
            env.image = ""
    if env.image:
        log(f"image {env.image}")
        if not validate_it:
            return _finish(store, env, "built", "", started)
        return validate_environment(instance, env, store, run_id=run_id, started=started)
    try:
        recipe = recipe_for(instance, store.work_dir(instance.instance_id))
    except DgmError as exc:
        log(f"recipe: {exc}")
        return _finish(store, env, "failed:no-recipe", str(exc), started)
    except Exception as exc:  # noqa: BLE001 - a broken recipe for one task must not stop the rest
        log(traceback.format_exc())
        return _finish(store, env, "failed:no-recipe", f"{type(exc).__name__}: {exc}", started)
    env.test_command, env.log_parser = recipe.test_command, recipe.log_parser
    env.notes = {**recipe.notes, "suite": recipe.suite}
    try:
        env.image = build_environment(recipe, progress=log)
    except Exception as exc:  # noqa: BLE001 - build errors are recorded per instance
        log(f"build failed: {exc}")
        return _finish(store, env, "failed:build", str(exc).splitlines()[0][:300], started)
    env.notes["build_seconds"] = round(time.monotonic() - started, 1)
    log(f"image {env.image}")
    if not validate_it:
        return _finish(store, env, "built", "", started)
    return validate_environment(instance, env, store, run_id=run_id, started=started)


def validate_environment(instance: TaskInstance, env: TaskEnvironment, store: BenchStore, *,
                         run_id: str, started: float | None = None) -> TaskEnvironment:
    """Validate a built environment and record the verdict in the manifest."""
    from dgm.bench.validation import validate

    started = time.monotonic() if started is None else started
    v0 = time.monotonic()
    try:
        verdict = validate(instance, env, run_id=run_id, log_dir=store.log_dir(instance.instance_id))
    except Exception as exc:  # noqa: BLE001 - an engine failure fails this instance only
        return _finish(store, env, "failed:validate-error", f"{type(exc).__name__}: {exc}"[:300], started)
    env.notes["validate_seconds"] = round(time.monotonic() - v0, 1)
    return _finish(store, env, verdict.status, verdict.detail, started)


def _finish(store: BenchStore, env: TaskEnvironment, status: str, detail: str, started: float) -> TaskEnvironment:
    env.status, env.detail = status, detail
    env.notes["seconds"] = round(time.monotonic() - started, 1)
    store.put(env)
    return env


def build_many(instances: Sequence[TaskInstance], store: BenchStore, *, run_id: str, jobs: int = 1,
               progress: Progress | None = None, validate_it: bool = True) -> list[TaskEnvironment]:
    """Build (and validate) each instance, `jobs` at a time; rows in input order."""
    done: dict[str, TaskEnvironment] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(build_instance, inst, store, run_id=run_id, validate_it=validate_it): inst
                   for inst in instances}
        try:
            for future in as_completed(futures):
                env = future.result()
                done[env.instance_id] = env
                if progress:
                    progress(env)
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()  # what has not started will not
            raise
    return [done[i.instance_id] for i in instances if i.instance_id in done]
