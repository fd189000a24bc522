"""`dgm simulate` (= `python -m dgm.simulate`): compare scheduling policies in a simulated world."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Compare scheduling policies x parent-selection strategies without Docker or a model. Each run
drives the real scheduler, policies, selection strategies and a real archive (in a temporary
directory) with a simulated executor: every agent has a latent solve probability per task cluster,
a child inherits its parent's with a random step, a share of self-modifications break the agent
(stage 0 fails), each task evaluation is a Bernoulli draw, and every work item costs dollars and
seconds drawn from stated distributions (see docs/simulate.md).

The table gives, per policy and strategy, averaged over seeds: the true quality of the final pick,
the same at the evaluation count of dgm's whole run in that seed, how often the pick is the truly
best admitted agent, evaluations, dollars and wall hours spent, worker utilisation, and the
correlation of the node's own score and of its clade estimate with the best true quality among
its descendants."""

EPILOG = """\
policies: dgm (iterations of k children, gated stages), hgm (asynchronous, clade Thompson
sampling, expand when evals^alpha >= tree size), sequential (hgm's schedule, and a child is closed
as soon as the posterior probability that it beats its parent falls below delta).
strategies: score_child_prop, score_prop, best, random, hgm_thompson, performance_novelty (dgm.selection) and
lower_bound (argmax of the epsilon-quantile of a node's own posterior).
world parameters: a TOML file with a [world] table, or -w KEY=VALUE; `--show-world` lists them.

example: dgm simulate --seeds 5 --policies dgm,hgm,sequential --plot sim.png"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `simulate` command."""
    p = subparsers.add_parser("simulate", help="compare scheduling policies in a simulated world (no Docker, no model)",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policies", default="dgm,hgm,sequential", metavar="LIST",
                   help="comma-separated policies (default: dgm,hgm,sequential)")
    p.add_argument("--strategies", default="", metavar="LIST",
                   help="comma-separated selection strategies, crossed with the policies "
                        "(default: each policy's own: dgm score_child_prop, hgm hgm_thompson, sequential lower_bound)")
    p.add_argument("--seeds", type=int, default=3, metavar="N", help="world seeds per combination (default: 3)")
    p.add_argument("--first-seed", type=int, default=0, metavar="S", help="seeds are S, S+1, ... (default: 0)")
    p.add_argument("--workers", type=int, default=8, metavar="W", help="executor slots (default: 8)")
    p.add_argument("--iterations", type=int, default=80, help="dgm's iterations (default: 80)")
    p.add_argument("--children", type=int, default=2, help="dgm's children per iteration (default: 2)")
    p.add_argument("--evals", type=int, default=0, metavar="N",
                   help="task evaluations for the asynchronous policies (default: what dgm spent in that seed)")
    p.add_argument("--world", type=Path, metavar="TOML", help="a TOML file with a [world] table of parameters")
    p.add_argument("-w", "--set", dest="world_overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="one world parameter (repeatable), e.g. -w broken=0.7")
    p.add_argument("--archive", choices=("real", "memory"), default="real",
                   help="real: a dgm archive (git + SQLite) per run in a temporary directory (default); "
                        "memory: an in-memory stand-in, for many seeds")
    p.add_argument("--plot", type=Path, metavar="PNG", help="write the figure here (matplotlib)")
    p.add_argument("--show-world", action="store_true", help="print the world parameters with their sources and exit")
    p.set_defaults(func=cmd_simulate)


def cmd_simulate(args: argparse.Namespace) -> int:
    from dgm.errors import BadInput
    from dgm.scheduler.registry import POLICIES
    from dgm.scheduler.strategies import STRATEGIES as SELECTORS
    from dgm.simulate.world import SPEC, WorldParams

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    bad = [p for p in policies if p not in POLICIES]
    if bad or not policies:
        raise BadInput(f"unknown policy {', '.join(bad) or '(none)'}", hint=f"valid: {', '.join(POLICIES)}")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    bad = [s for s in strategies if s not in SELECTORS]
    if bad:
        raise BadInput(f"unknown strategy {', '.join(bad)}", hint=f"valid: {', '.join(SELECTORS)}")
    for name, value in (("--seeds", args.seeds), ("--workers", args.workers), ("--iterations", args.iterations),
                        ("--children", args.children)):
        if value < 1:
            raise BadInput(f"{name} {value} must be at least 1", hint=f"give {name} 1 or more")
    table = _world_table(args.world, args.world_overrides)
    params = WorldParams.from_table(table)
    if args.show_world:
        for key, (default, low, high, source) in SPEC.items():
            print(f"{key:20} = {getattr(params, key)!s:8} [{low}, {high}]  {source}")
        return 0
    from dgm.simulate.runner import simulate
    from dgm.simulate.table import format_table

    results = []
    combos = [(p, s) for p in policies for s in (strategies or [None])]
    common = dict(params=params, workers=args.workers, iterations=args.iterations, children=args.children,
                  archive=args.archive)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        done: dict = {}
        budget = args.evals or None
        if budget is None:   # the asynchronous policies spend what dgm's whole run spent in this world
            ref_strategy = strategies[0] if strategies and "dgm" in policies else None
            done[("dgm", ref_strategy)] = simulate("dgm", strategy=ref_strategy, seed=seed, **common)
            budget = int(done[("dgm", ref_strategy)].evals[-1])
        for policy, strategy in combos:
            run = done.get((policy, strategy))
            if run is None:
                run = simulate(policy, strategy=strategy, seed=seed, max_evals=budget, **common)
            results.append(run)
        print(f"seed {seed}: done", flush=True)
    print(format_table(results))
    if args.plot:
        from dgm.simulate.plot import write_plot

        print(f"plot: {write_plot(results, args.plot, args.workers)}")
    return 0


def _world_table(path: Path | None, overrides: list[str]) -> dict:
    import tomllib

    from dgm.errors import BadInput

    table: dict = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise BadInput(f"cannot read world file {path}: {exc.strerror}", hint="give a TOML file") from None
        except tomllib.TOMLDecodeError as exc:
            raise BadInput(f"world file {path} is not valid TOML: {exc}", hint="fix the file") from None
        table.update(data.get("world", data))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"-w {item!r} is not KEY=VALUE", hint="e.g. -w broken=0.7")
        try:
            table[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            raise BadInput(f"-w {item!r}: the value is not a TOML value", hint="e.g. -w broken=0.7") from None
    return table
