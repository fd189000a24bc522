"""`evolve(config)`: open the run, drive the loop, say how it ended."""

from __future__ import annotations

import os

from dgm.evolve.config import EvolveConfig
from dgm.terminal import inert


def evolve(config: EvolveConfig, *, live: bool | None = None) -> int:
    """Run (or resume) an evolution; 0 when it ended normally or at a cap, the reason printed."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from dgm.evolve.loop import Evolution
    from dgm.evolve.session import open_session
    from dgm.evolve.executors import check_executor

    check_executor(config)  # before the run directory, images or any model call

    session = open_session(config, live=live)
    closing: list[str] = []
    try:
        summary = Evolution(session).run()
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(summary.reasons.items())) or "none"
        best = f"node {summary.best[0]} score {summary.best[1]:.3f}" if summary.best else "none"
        ending = {None: "finished", "over budget": "stopped at the budget cap",
                  "wall time": "stopped at the wall-time cap"}[summary.stopped]
        closing.append(f"run {ending}: {summary.admitted} admitted, {summary.rejected} rejected ({reasons}), "
                       f"{summary.pending} pending; best {best}; spent ${summary.spent_usd:.4f}; "
                       f"cache hits {summary.cache_hits}")
        if summary.stopped == "over budget":
            closing.append(f"the budget of ${config.budget.usd:.2f} is spent; resume with a larger one: "
                           f"python -m dgm.evolve --resume {config.run.dir} -c budget.usd=<more>")
        elif summary.stopped == "wall time":
            closing.append(f"resume with: python -m dgm.evolve --resume {config.run.dir}")
        for line in closing:
            session.progress.log(line)
    finally:
        live_view = session.progress.live_enabled
        session.close()
    if live_view:
        # The live panel is gone: say how it ended in plain words (reasons may hold sandbox text).
        print("\n".join(inert(line, lines=False) for line in closing))
    return 0
