"""Measured, printed, never asserted: pulling an environment image from a registry against
rebuilding it offline, on a registry started here (Debian's docker-registry on 127.0.0.1).

    python scripts/bench_official.py [--dataset FILE] [--instance ID] [--repeat N]

For the instance (default: the toy task dgm-toy__calc-1; a real one such as
pallets__flask-4992 from datasets/swebench_lite.jsonl rebuilds from PyPI), side by side:
- rebuild: the offline recipe built cold (no layer cache: a nonce in its environment);
  disk = the image's size and what it adds to its base;
- pull: the same environment flattened to one layer (so none of it is already local),
  pushed under the harness's name for a classic row, removed, then pulled through dgm's
  pull() from the local registry; disk = the pulled image's size; plus the thin offline
  layer dgm adds to an official image (agent user, seed copy of /testbed);
- resume: a four-layer image (a tiny first layer, then three of 100 MB) whose pull is cut by
  stopping the registry when its first layer completes, then pulled again: what the engine
  kept ("Already exists") and what it fetched again.
Everything made here is removed at the end (images labelled/tagged by this script only).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("LITELLM_OFFLINE_MODE", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOY = ROOT / "datasets" / "toy" / "toy.jsonl"


def _registry_class():
    spec = importlib.util.spec_from_file_location("dgm_bench_registry", ROOT / "tests" / "bench" / "registry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Registry


def mb(n: float) -> str:
    return f"{n / 1e6:8.1f} MB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default=str(TOY))
    ap.add_argument("--instance", default="dgm-toy__calc-1")
    ap.add_argument("--repeat", type=int, default=2, help="pulls timed per image (default 2)")
    args = ap.parse_args()

    from dgm.bench.environment import build_environment
    from dgm.bench.instances import load_instances
    from dgm.bench.makers import recipe_for
    from dgm.bench.official import ensure_official_image
    from dgm.bench.pull import image_bytes, pull, registry_size
    from dgm.sandbox.engine import docker_client
    from dgm.sandbox.images import ensure_base_image

    client = docker_client()
    inst = load_instances(args.dataset, ids=[args.instance])[0]
    scratch = Path(tempfile.mkdtemp(prefix="dgm-bench-official-"))
    registry = _registry_class()(scratch / "registry").start()
    made: list[str] = []
    nonce = uuid.uuid4().hex[:8]
    try:
        # -- rebuild, cold
        recipe = recipe_for(inst, scratch / "work")
        base = ensure_base_image(recipe.suite)
        cold = replace(recipe, env={**recipe.env, "DGM_BENCH_NONCE": nonce})
        t = time.perf_counter()
        layers_of: dict = {}
        rebuilt = build_environment(cold, name=f"dgm-env-benchofficial-{nonce}", record=layers_of)
        rebuild_s = time.perf_counter() - t
        made += [layers_of["environment_image"], rebuilt]  # removed in reverse: the instance image first
        rebuilt_bytes, base_bytes = image_bytes(rebuilt), image_bytes(base)

        # -- the same environment as a one-layer image under the harness's name, in the registry
        name = f"{registry.host}/swebench/sweb.eval.x86_64.benchofficial-{nonce}_1776_{args.instance.split('__')[-1]}:latest"
        box = client.containers.create(rebuilt, command=["true"])
        try:
            stream = box.export()
            t = time.perf_counter()
            client.api.import_image_from_data(b"".join(stream), repository=name.rsplit(":", 1)[0], tag="latest")
            flatten_s = time.perf_counter() - t
        finally:
            box.remove(force=True)
        made.append(name)
        for event in client.api.push(name.rsplit(":", 1)[0], tag="latest", stream=True, decode=True):
            if "error" in event:
                raise SystemExit(f"push failed: {event['error']}")
        transfer = registry_size(name)
        pulls = []
        for _ in range(max(1, args.repeat)):
            client.images.remove(name, force=True)
            pulls.append(pull(name)["seconds"])
        pulled_bytes = image_bytes(name)
        t = time.perf_counter()
        adapted = ensure_official_image(inst, image=name)
        adapt_s = time.perf_counter() - t
        made.append(adapted)
        adapted_bytes = image_bytes(adapted)

        # -- resume: an image whose first layer is tiny and whose next three are 100 MB of random
        # bytes each, none of them local anywhere; its pull is cut (the registry stopped) as soon as
        # the first layer completes, then the image is pulled again: what did the engine keep?
        layered = f"{registry.host}/swebench/sweb.eval.x86_64.benchofficial-{nonce}_1776_layered:latest"
        tiny = io.BytesIO()
        with tarfile.open(fileobj=tiny, mode="w") as tar:
            info = tarfile.TarInfo(f"tiny-{nonce}")
            info.size = 5
            tar.addfile(info, io.BytesIO(b"tiny\n"))
        first = f"dgm-benchofficial-tiny-{nonce}"
        client.api.import_image_from_data(tiny.getvalue(), repository=first, tag="latest")
        made.append(f"{first}:latest")
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            steps = ""
            for i in range(3):
                info = tarfile.TarInfo(f"blob{i}")
                info.size = 100_000_000
                tar.addfile(info, io.BytesIO(os.urandom(info.size)))
                steps += f"COPY blob{i} /blob{i}\n"
            info = tarfile.TarInfo("Dockerfile")
            text = f"FROM {first}:latest\n{steps}".encode()
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
        context.seek(0)
        client.images.build(fileobj=context, custom_context=True, tag=layered, rm=True, network_mode="none")
        made.append(layered)
        for event in client.api.push(layered.rsplit(":", 1)[0], tag="latest", stream=True, decode=True):
            if "error" in event:
                raise SystemExit(f"push failed: {event['error']}")
        for image in (layered, f"{first}:latest", adapted, name):
            client.images.remove(image, force=True)
        states: dict[str, str] = {}
        cut = ""
        for event in client.api.pull(layered.rsplit(":", 1)[0], tag="latest", stream=True, decode=True):
            if event.get("id") and event.get("status"):
                states[event["id"]] = event["status"]
            if "error" in event:
                cut = event["error"]
                break
            if event.get("status") == "Pull complete" and registry.process is not None:
                registry.stop()  # the network goes away in the middle of the pull
        completed_before = sum(1 for st in states.values() if st == "Pull complete")
        registry.start()
        again = pull(layered)
    finally:
        for image in reversed(made):
            try:
                client.images.remove(image, force=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
        registry.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    pull_s = statistics.median(pulls)
    print(f"instance {args.instance} ({inst.repo}), local registry {registry.host}")
    print(f"  rebuild, cold:              {rebuild_s:7.1f} s   image {mb(rebuilt_bytes)}, adds {mb(rebuilt_bytes - base_bytes)}"
          f" to its base ({mb(base_bytes)}, built once per suite)")
    print(f"  pull, one-layer image:      {pull_s:7.1f} s   (median of {len(pulls)}: "
          + ", ".join(f"{p:.1f}" for p in pulls) + f")  transfer {mb(transfer)}, on disk {mb(pulled_bytes)}")
    print(f"  + dgm's offline layer:      {adapt_s:7.1f} s   image {mb(adapted_bytes)} "
          f"(adds {mb(adapted_bytes - pulled_bytes)}: the seed copy of /testbed)")
    print(f"  pull + layer / rebuild:     {(pull_s + adapt_s) / rebuild_s:7.2f}x   pull alone / rebuild: {pull_s / rebuild_s:.2f}x")
    print(f"  (flattening the image for the push took {flatten_s:.1f} s; not part of either path)")
    print(f"  resume: a {again['layers']}-layer pull cut by stopping the registry ({cut[-60:] or 'it finished first'}) "
          f"after {completed_before} layer(s) completed; pulled again: {again['layers_reused']} reported "
          f"'Already exists', {again['fetched_bytes'] / 1e6:.0f} MB fetched, {again['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
