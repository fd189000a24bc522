"""The end-of-run evaluation of the seed and the best agent on the held-out tasks (a loop job)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generator

from dgm.evolve.items import EvalItem
from dgm.evolve.jobs import Job
from dgm.science.heldout import META_KEY, check, scores

if TYPE_CHECKING:
    from dgm.evolve.loop import Evolution


def heldout_jobs(loop: "Evolution") -> list:
    """The end-of-run jobs: the seed and the best admitted agent on the held-out tasks not yet run."""
    plan = loop.session.plan
    ids = check(loop.config, plan.instances, plan.stages)
    if not ids:
        return []
    from dgm.evolve.tasks import TaskPlan, environments

    envs = environments(loop.config, TaskPlan(plan.instances, [ids], ids[0]), loop.session.run_id, loop.log)
    scored = [n for n in loop.archive.nodes() if n.status == "admitted" and n.score is not None]
    best = min(scored, key=lambda n: (-n.score, int(n.id)), default=None)
    targets = ["0"] + ([best.id] if best is not None and best.id != "0" else [])
    return [HeldoutJob(loop, node_id, ids, envs) for node_id in targets]


class HeldoutJob(Job):
    """Evaluate one node on the held-out tasks; results go to node.meta, never to its score."""

    def __init__(self, loop: "Evolution", node_id: str, ids: list[str], envs: dict[str, Any]) -> None:
        self.ids, self.envs = ids, envs
        super().__init__(loop)
        self.node_id = node_id

    def label(self) -> str:
        return f"node {self.node_id} held-out"

    def steps(self) -> Generator[list, list, None]:
        loop = self.loop
        done = (loop.archive.get(self.node_id).meta or {}).get(META_KEY) or {}
        todo = [iid for iid in self.ids if iid not in done]
        if not todo:
            return
        tree = loop.tree_of(self.node_id)
        items = []
        for iid in todo:
            out_dir = loop.archive.artifacts_dir(self.node_id) / META_KEY / iid
            if out_dir.exists():
                import shutil

                shutil.rmtree(out_dir)
            items.append(EvalItem(self.node_id, tree, loop.session.plan.instances[iid], self.envs[iid], -1,
                                  loop.agent_budget("task"), loop.box(), f"node:{self.node_id}:heldout:{iid}",
                                  out_dir=out_dir, verify=loop.config.evolve.self_verify))
        yield items
        node = loop.archive.get(self.node_id)
        loop.log(f"node {self.node_id}: held-out score {scores(node).get('score')} over {len(self.ids)} task(s)")

    def on_outcome(self, item: Any, outcome: Any) -> None:
        from dgm.evolve import records

        records.write_eval(self.artifacts / META_KEY / item.instance_id, outcome)
        self._charge(outcome.agent.seconds + outcome.grade_seconds, outcome.agent.usage)
        node = self.loop.archive.get(self.node_id)
        held = dict((node.meta or {}).get(META_KEY) or {})
        held[item.instance_id] = outcome.result()
        self.loop.archive.update_node(self.node_id, meta={**node.meta, META_KEY: held})
