"""The end-of-run evaluation of the seed and the best agent on the held-out tasks: task runs submitted to
the run's executor like any other, their results written to node.meta["heldout"], never to a score."""

from __future__ import annotations

import shutil
from concurrent.futures import wait
from typing import Any

from dgm.evolve import records
from dgm.evolve.items import EvalItem
from dgm.science.heldout import META_KEY, check, scores


def targets(archive: Any) -> list[str]:
    """The seed, and the best admitted agent (ties: the lower id) when it is another node."""
    scored = [n for n in archive.nodes() if n.status == "admitted" and n.score is not None]
    best = min(scored, key=lambda n: (-n.score, int(n.id)), default=None)
    return ["0"] + ([best.id] if best is not None and best.id != "0" else [])


def evaluate_heldout(run: Any) -> None:
    """Evaluate run.archive's seed and best on dataset.heldout (skipping ids already done) through
    run.executor; `run` is the loop (config, session, archive, host, executor, log)."""
    plan = run.session.plan
    ids = check(run.config, plan.instances, plan.stages)
    if not ids:
        return
    from dgm.evolve.tasks import TaskPlan, environments

    envs = environments(run.config, TaskPlan(plan.instances, [ids], ids[0]), run.session.run_id, run.log)
    host, archive = run.host, run.archive
    futures = {}
    for node_id in targets(archive):
        done = (archive.get(node_id).meta or {}).get(META_KEY) or {}
        for iid in ids:
            if iid in done:
                continue
            out_dir = archive.artifacts_dir(node_id) / META_KEY / iid
            if out_dir.exists():
                shutil.rmtree(out_dir)
            item = EvalItem(node_id, host.tree_of(node_id), plan.instances[iid], envs[iid], -1,
                            host.agent_budget("task"), host.box(), f"node:{node_id}:{META_KEY}:{iid}",
                            out_dir=out_dir, verify=run.config.evolve.self_verify)
            futures[run.executor.submit(item)] = item
    for future in wait(list(futures)).done:
        item, outcome = futures[future], future.result()
        records.write_eval(archive.artifacts_dir(item.node_id) / META_KEY / item.instance_id, outcome)
        host.charge_node(item.node_id, outcome.agent.seconds + outcome.grade_seconds, outcome.agent.usage)
        node = archive.get(item.node_id)
        held = {**((node.meta or {}).get(META_KEY) or {}), item.instance_id: outcome.result()}
        archive.update_node(item.node_id, meta={**node.meta, META_KEY: held})
    for node_id in targets(archive):
        if (archive.get(node_id).meta or {}).get(META_KEY):
            run.log(f"node {node_id}: held-out score {scores(archive.get(node_id)).get('score')} "
                    f"over {len(ids)} task(s)")
