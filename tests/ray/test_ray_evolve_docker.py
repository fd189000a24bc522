"""The evolve loop on a real Ray cluster (a head and a worker node as separate `ray start` processes on
127.0.0.1), real Docker and the scripted model over real HTTP: the same seed gives the same archive,
cache and recordings as the local pool, and a worker node killed mid-item costs nothing but time."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")


from dgm.archive import Archive  # noqa: E402
from dgm.ray.local_cluster import Cluster, _session  # noqa: E402

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "configs" / "offline-demo.toml"
SMALL = ["evolve.iterations=1", "dataset.stages=[1]"]
BROKEN_SLOTS = 3


def evolve(run_dir: Path, store: Path, *extra: str, env: dict | None = None, resume: bool = False) -> subprocess.Popen:
    if resume:
        args = [sys.executable, "-m", "dgm.evolve", "--resume", str(run_dir)]
    else:
        args = [sys.executable, "-m", "dgm.evolve", str(CONFIG), "-c", f'run.dir="{run_dir}"',
                "-c", f'dataset.store="{store}"']
        for item in [*SMALL, *extra]:
            args += ["-c", item]
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 400) -> str:
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]
    return out


def on_ray(cluster: Cluster) -> list[str]:
    return ['evolve.executor="ray"', f'evolve.ray_address="{cluster.address}"', 'evolve.ray_gate_host="127.0.0.1"',
            "evolve.ray_memory_mb=256"]


def run_id(run_dir: Path) -> str:
    return json.loads((run_dir / "run.json").read_text())["run_id"]


def containers_of(rid: str) -> list[dict]:
    """The run's containers as the engine lists them (names, labels): no inspect per container, which
    would race the sweep that removes them."""
    import docker

    return docker.from_env().api.containers(all=True, filters={"label": f"dgm.run={rid}"})


def slots_of(run_dir: Path) -> dict[str, str]:
    """Node id -> "iteration.slot": ids follow which self-modification finished first, slots do not."""
    with Archive.open(run_dir) as archive:
        return {n.id: "root" if n.id == "0" else f"{n.meta.get('iteration')}.{n.meta.get('slot')}"
                for n in archive.nodes()}


def archive_facts(run_dir: Path) -> dict:
    """What must not depend on where items ran: lineage, trees, verdicts, per-task results."""
    keep = ("resolved", "empty_patch", "stage", "status", "patch_applied", "tokens_in", "tokens_out", "cost_usd")
    slot = slots_of(run_dir)
    with Archive.open(run_dir) as archive:
        return {slot[n.id]: {"parent": slot.get(n.parent_id or ""), "status": n.status, "tree": archive.tree_hash(n.id),
                             "stages": n.stage_scores, "score": n.score, "cost": round(n.cost_usd, 6),
                             "tokens": (n.tokens_in, n.tokens_out),
                             "results": {k: {f: r.get(f) for f in keep} for k, r in n.results.items()}}
                for n in archive.nodes()}


def cache_facts(run_dir: Path) -> list:
    with sqlite3.connect(run_dir / "cache.sqlite") as db:
        rows = db.execute("SELECT tree_hash, instance_id, settings, outcome FROM results ORDER BY 1, 2, 3").fetchall()
    out = []
    for tree, iid, settings, outcome in rows:
        data = json.loads(outcome)
        agent = data.get("agent") or {}
        out.append((tree, iid, settings, data.get("resolved"), data.get("compiled"), data.get("tests_passed"),
                    agent.get("status"), agent.get("patch")))
    return out


def recording_facts(run_dir: Path) -> dict:
    """Per account (node ids as slots), the replies and usage of every call in order; ids and times differ."""
    slot = slots_of(run_dir)
    calls: dict[str, list] = {}
    for line in (run_dir / "llm_calls.jsonl").read_text().splitlines():
        c = json.loads(line)
        kind, _, rest = c["account"].partition(":")
        node, _, what = rest.partition(":")
        account = f"node:{slot[node]}:{what}" if kind == "node" else c["account"]
        message = c["response"]["choices"][0]["message"]
        calls.setdefault(account, []).append(
            (c["role"], message.get("content"), [t["function"] for t in message.get("tool_calls") or []], c["usage"]))
    return calls


def artifact_facts(run_dir: Path) -> dict:
    """Per node (as its slot), every artifact file, and the keys of each JSON one (contents hold times)."""
    slot = slots_of(run_dir)
    out = {}
    for node, name in slot.items():
        base = run_dir / "artifacts" / node
        for path in sorted(base.rglob("*")):
            if path.is_file():
                data = json.loads(path.read_text()) if path.suffix == ".json" else None
                shape = sorted(data) if isinstance(data, dict) else len(data) if isinstance(data, list) else None
                out[f"{name}/{path.relative_to(base)}"] = shape
    return out


def fsck_clean(run_dir: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "dgm.archive", "fsck", str(run_dir)], capture_output=True, text=True,
                         cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-store")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory, store: Path) -> subprocess.Popen:
    """The local pool's run, started first: it builds the task environment while the cluster starts."""
    run_dir = tmp_path_factory.mktemp("local") / "run"
    proc = evolve(run_dir, store)
    proc.run_dir = run_dir  # type: ignore[attr-defined]
    return proc


@pytest.fixture(scope="module")
def cluster(local_run: subprocess.Popen):
    c = Cluster()
    try:
        c.start_head(slots=1)
        c.worker = c.add_node(slots=2)  # type: ignore[attr-defined]
        # A node whose Docker engine does not answer: it refuses work, the run goes on with the others.
        # (3 slots: the one node the tests can tell apart by its resources)
        c.broken = c.add_node(slots=BROKEN_SLOTS, env={"DOCKER_HOST": "unix:///nonexistent/docker.sock"})  # type: ignore
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def local(local_run: subprocess.Popen, cluster: Cluster) -> Path:
    finish(local_run)
    return local_run.run_dir  # type: ignore[attr-defined]


def run_killing_the_worker(run_dir: Path, store: Path, cluster: Cluster) -> tuple[str, str]:
    """An evolve run on Ray whose worker node is SIGKILLed as soon as one of its sandboxes exists."""
    worker = cluster.worker  # type: ignore[attr-defined]
    proc = evolve(run_dir, store, *on_ray(cluster), env=cluster.env)
    deadline = time.monotonic() + 400
    killed = ""
    try:
        while time.monotonic() < deadline and not killed:
            if proc.poll() is not None:
                pytest.fail("the run ended before the worker node ran anything:\n" + proc.stdout.read()[-3000:])
            if (run_dir / "run.json").exists():
                pids = {str(p) for p in _session(worker.pid)}
                for box in containers_of(run_id(run_dir)):
                    if (box.get("Labels") or {}).get("dgm.pid") in pids:  # a sandbox of the worker node's process
                        killed = box["Names"][0]
                        cluster.kill(worker)
                        break
            time.sleep(0.3)
        assert killed, "no item ran on the worker node"
        return killed, finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_ray_run_with_a_worker_killed_mid_item_matches_the_local_pool(
        local: Path, cluster: Cluster, store: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    killed, out = run_killing_the_worker(run_dir, store, cluster)
    assert "ray: connected to" in out
    refusals = [ln for ln in (run_dir / "log.txt").read_text().splitlines() if "refuses work" in ln]
    assert len(refusals) == 1 and "no working Docker engine" in refusals[0], refusals
    # Each slot's child exists once: the killed item ran again elsewhere and its outcome arrived once.
    slots = list(slots_of(run_dir).values())
    assert len(slots) == len(set(slots)) == 3, slots
    # Recordings: per account the local pool's calls, after those of the attempt that was killed (if it
    # had made any); those calls were really made, so that item's node is charged for them too.
    ray_calls, local_calls = recording_facts(run_dir), recording_facts(local)
    assert set(ray_calls) == set(local_calls)
    retried = {a for a in ray_calls if ray_calls[a] != local_calls[a]}
    for account in retried:
        assert ray_calls[account][-len(local_calls[account]):] == local_calls[account], account
    assert len(retried) <= 1, retried
    charged_again = {account.split(":")[1] for account in retried}  # "slot:1.2", "node:1.2:task:x" -> "1.2"
    facts, want = archive_facts(run_dir), archive_facts(local)
    for slot in charged_again:
        for f in (facts[slot], want[slot]):
            del f["cost"], f["tokens"]
            for r in f["results"].values():
                del r["tokens_in"], r["tokens_out"], r["cost_usd"]
    assert facts == want, out[-3000:]
    statuses = sorted(f["status"] for f in facts.values())
    assert statuses == ["admitted", "admitted", "rejected:does not compile"], statuses
    assert cache_facts(run_dir) == cache_facts(local)
    assert artifact_facts(run_dir) == artifact_facts(local)  # what the engine wrote on the nodes came back
    admitted = next(i for i, s in slots_of(run_dir).items() if s != "root" and facts[s]["status"] == "admitted")
    for name in ("selfmod/patch.diff", "selfmod/trajectory.json", "selfmod/llm_calls.jsonl", "stage0/tests.log"):
        assert (run_dir / "artifacts" / admitted / name).is_file(), name
    fsck_clean(run_dir)
    # The killed node's sandbox outlived its process; the driver's sweep on the live nodes removed it.
    assert containers_of(run_id(run_dir)) == [], killed


def test_a_returning_node_is_checked_and_builds_a_missing_image_once(cluster: Cluster) -> None:
    """The killed node comes back: `dgm doctor --ray` checks every node; a recipe no node has is built
    from the item's data, once per engine, under the node's build lock."""
    import uuid

    import docker
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from dgm.ray.images import ImageMissing, ImageRecipe, ensure_recipe, ensure_tag

    if cluster.worker.poll() is None:  # type: ignore[attr-defined]  # the test before did not get to kill it
        cluster.kill(cluster.worker, wait=True)  # type: ignore[attr-defined]
    cluster.wait_nodes(2, exactly=True)  # the head and the broken node: the killed one is seen gone
    cluster.worker = cluster.add_node(slots=2)  # type: ignore[attr-defined]
    out = subprocess.run([sys.executable, "-m", "dgm", "doctor", "--ray", cluster.address], cwd=REPO,
                         capture_output=True, text=True, env=cluster.env, timeout=180)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.count("sandbox slot(s)") == 3 and out.stdout.count("Docker engine and base image ready") == 2
    assert out.stdout.count("no working Docker engine") == 1 and "fix: start Docker there" in out.stdout
    assert "cluster not ready: 1 failed" in out.stdout
    gone = subprocess.run([sys.executable, "-m", "dgm", "doctor", "--ray", "127.0.0.1:1"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert gone.returncode == 2 and "127.0.0.1:1 is unreachable" in gone.stderr

    nonce = uuid.uuid4().hex
    recipe = ImageRecipe(f"dgm-raytest-{nonce[:8]}", "FROM {base}\nCOPY note.txt /etc/dgm-raytest\n", "bookworm",
                         {"note.txt": nonce.encode()})
    ray.init(address=cluster.address, log_to_driver=False, logging_level="ERROR")
    tag = None
    try:
        nodes = [n["NodeID"] for n in ray.nodes()
                 if n["Alive"] and n["Resources"].get("sandbox_slot") not in (None, BROKEN_SLOTS)]
        assert len(nodes) == 2
        build = ray.remote(ensure_recipe)
        tags = ray.get([build.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False))
                        .remote(recipe) for n in nodes], timeout=300)
        tag = tags[0]
        assert tags == [tag, tag] and tag.startswith(recipe.name + ":")
        image = docker.from_env().images.get(tag)
        assert image.labels.get("dgm.recipe") == tag
        with pytest.raises(ImageMissing, match="evolve.ray_registry"):
            ray.get(ray.remote(ensure_tag).options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
                nodes[0], soft=False)).remote(f"dgm-raytest-absent:{nonce}"))
    finally:
        ray.shutdown()
        if tag:
            docker.from_env().images.remove(tag, force=True)


def test_a_ray_run_whose_driver_is_killed_resumes_to_the_local_pools_archive(
        local: Path, cluster: Cluster, store: Path, tmp_path: Path) -> None:
    """SIGKILL the driver (the evolve process) once it has paid for a model call and one of its
    sandboxes runs on the cluster, then --resume on Ray: nothing duplicated, nothing lost, the same
    verdicts and scores as the local pool, and the sandboxes the dead driver left are swept."""
    import os
    import signal

    run_dir = tmp_path / "run"
    proc = evolve(run_dir, store, *on_ray(cluster), env=cluster.env)
    deadline = time.monotonic() + 400
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail("the run ended before a sandbox ran:\n" + proc.stdout.read()[-3000:])
            calls = run_dir / "llm_calls.jsonl"  # a model call was paid for: the resume must reload the ledger
            if calls.exists() and calls.stat().st_size and containers_of(run_id(run_dir)):
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.3)
        else:
            pytest.fail("no sandbox of the run appeared")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    out = finish(evolve(run_dir, store, env=cluster.env, resume=True))
    assert "ray: connected to" in out
    log = (run_dir / "log.txt").read_text()
    assert "resuming run" in log and "the run had spent $" in log
    facts, want = archive_facts(run_dir), archive_facts(local)
    assert set(facts) == set(want)  # each slot's child exists once
    for slot, f in facts.items():
        w = want[slot]
        assert (f["parent"], f["status"], f["tree"], f["stages"], f["score"]) == \
            (w["parent"], w["status"], w["tree"], w["stages"], w["score"]), slot
        assert {k: r["resolved"] for k, r in f["results"].items()} == \
            {k: r["resolved"] for k, r in w["results"].items()}, slot
    fsck_clean(run_dir)
    assert containers_of(run_id(run_dir)) == []
