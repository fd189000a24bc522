"""Build and validate instances into a BenchStore: recipe → image → validation → manifest row."""

from __future__ import annotations

import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Sequence

from dgm.bench.instances import TaskInstance
from dgm.bench.official import EnvironmentOptions
from dgm.bench.specs import ClassicSpec, classic_specs, is_classic
from dgm.bench.store import BenchStore, TaskEnvironment
from dgm.errors import BadInput, DgmError

Progress = Callable[[TaskEnvironment], None]


class _BuildLog:
    """Appends image build progress to logs/<id>/build.log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.write_text("")

    def __call__(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line.rstrip("\n") + "\n")


class _Tee:
    """Every line to build.log; pull progress lines also to the caller."""

    def __init__(self, log: _BuildLog, pulls: Callable[[str], None]) -> None:
        self.log, self.pulls = log, pulls

    def __call__(self, line: str) -> None:
        self.log(line)
        if line.startswith(("pull ", "pulling ", "waiting for a pull slot")):
            self.pulls(line)


def build_instance(instance: TaskInstance, store: BenchStore, *, run_id: str, validate_it: bool = True,
                   options: EnvironmentOptions | None = None, spec: ClassicSpec | None = None,
                   pull_progress: Callable[[str], None] | None = None) -> TaskEnvironment:
    """One instance end to end; every failure becomes a manifest row, never an exception.

    The exception: with `environments = "official"`, an instance whose official image cannot
    be had raises BadInput naming the image and the registry. SPEC is the classic row's
    derived spec when the caller derived a batch of them (else it is derived here).
    PULL_PROGRESS also gets the pull's progress lines (they always go to build.log).
    """
    from dgm.bench.environment import build_environment, layer_costs
    from dgm.bench.makers import recipe_for

    options = options or EnvironmentOptions()
    logs = store.log_dir(instance.instance_id)
    log = _BuildLog(logs / "build.log")
    started = time.monotonic()
    env = TaskEnvironment(instance.instance_id, image="", repo=instance.repo)
    store.save_instance(instance)
    skipped = ""
    if options.environments != "rebuild":
        say = log if pull_progress is None else _Tee(log, pull_progress)
        skipped = _try_official(instance, env, options, spec, say)
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
    env.notes = {**recipe.notes, "suite": recipe.suite, "environment": "rebuild"}
    if skipped:
        env.notes["official_skipped"] = skipped
    layers: dict = {}
    try:
        env.image = build_environment(recipe, progress=log, record=layers)
    except Exception as exc:  # noqa: BLE001 - build errors are recorded per instance
        log(f"build failed: {exc}")
        return _finish(store, env, "failed:build", str(exc).splitlines()[0][:300], started)
    env.notes["build_seconds"] = round(time.monotonic() - started, 1)
    try:
        layers.update(layer_costs(env.image, layers["environment_image"]))
    except Exception as exc:  # noqa: BLE001 - sizes are notes, not conditions
        log(f"layer sizes unknown: {exc}")
    env.notes["layers"] = layers
    log(f"image {env.image}")
    if not validate_it:
        return _finish(store, env, "built", "", started)
    return validate_environment(instance, env, store, run_id=run_id, started=started)


def _try_official(instance: TaskInstance, env: TaskEnvironment, options: EnvironmentOptions,
                  spec: ClassicSpec | None, log: Callable[[str], None]) -> str:
    """Put the official image into ENV when it can be had; else why not ("" on success)."""
    from dgm.bench import official
    from dgm.bench.pull import registry_of

    if spec is None and is_classic(instance):
        try:
            spec = classic_specs([instance], namespace=options.namespace, tag=options.tag)[instance.instance_id]
        except DgmError as exc:
            spec = ClassicSpec(error=str(exc))
    target = official.target_for(instance, spec)
    if isinstance(target, str):
        if options.environments == "auto" and not (official.applies(instance) or is_classic(instance)):
            return ""  # a dgm-source row: the rebuild is its only path, nothing was skipped
        if options.environments == "official":
            raise BadInput(f"{instance.instance_id}: environments = official, but {target}",
                           hint="use environments = auto or rebuild for this row")
        log(f"no official image ({target}); building offline")
        return target
    record: dict = {}
    try:
        env.image = official.ensure_official_image(instance, progress=log, image=target.image, record=record)
        env.test_command = official.command_from_eval_script(target.eval_script, drop=target.drop)
    except DgmError as exc:
        env.image = ""
        if options.environments == "official":
            raise BadInput(f"{instance.instance_id}: official image {target.image} cannot be had from "
                           f"{registry_of(target.image)}", hint=str(exc.message)[:300]) from None
        log(f"official image unusable, building offline: {exc}")
        return f"{target.image}: {exc.message}"
    env.log_parser = target.log_parser
    env.notes = {"kind": "official", "environment": "official", "official_image": target.image,
                 "official_source": record.get("source", ""), "spec": target.origin}
    pulled = record.get("pull")
    if pulled:
        env.notes.update(pull_seconds=pulled["seconds"], pull_bytes=pulled["fetched_bytes"],
                         layers_reused=pulled["layers_reused"])
    try:
        from dgm.bench.pull import image_bytes

        env.notes["image_bytes"] = image_bytes(target.image)
    except Exception:  # noqa: BLE001 - a size is a note, not a condition
        pass
    return ""


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
               progress: Progress | None = None, validate_it: bool = True,
               options: EnvironmentOptions | None = None,
               specs: dict[str, ClassicSpec] | None = None,
               pull_progress: Callable[[str], None] | None = None) -> list[TaskEnvironment]:
    """Build (and validate) each instance, `jobs` at a time; rows in input order.

    Classic rows' specs are derived once for the batch (one child process) unless given.
    """
    options = options or EnvironmentOptions()
    if specs is None:
        specs = batch_specs(instances, options)
    done: dict[str, TaskEnvironment] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(build_instance, inst, store, run_id=run_id, validate_it=validate_it,
                               options=options, spec=specs.get(inst.instance_id), pull_progress=pull_progress): inst
                   for inst in instances}
        try:
            for future in as_completed(futures):
                env = future.result()
                done[env.instance_id] = env
                if progress:
                    progress(env)
        except BaseException:  # an interrupt, or an official image that cannot be had
            for future in futures:
                future.cancel()  # what has not started will not
            raise
    return [done[i.instance_id] for i in instances if i.instance_id in done]


def batch_specs(instances: Sequence[TaskInstance], options: EnvironmentOptions) -> dict[str, ClassicSpec]:
    """Specs of the classic rows among INSTANCES; a failure to derive them is each row's reason."""
    classic = [i for i in instances if is_classic(i)]
    if options.environments == "rebuild" or not classic:
        return {}
    try:
        return classic_specs(classic, namespace=options.namespace, tag=options.tag)
    except DgmError as exc:
        return {i.instance_id: ClassicSpec(error=str(exc)) for i in classic}
