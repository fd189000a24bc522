"""The simulated world: its parameters (a validated TOML table) and the latent quality of every agent.

An agent is a vector of logits, one per task cluster; task t of cluster c is solved with
probability sigmoid(theta[c] + b_t), b_t the task's difficulty. A child inherits its parent's
vector plus a Gaussian step; a stated share of self-modifications break the agent so stage 0
fails. True quality = the expected score over the whole task pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from dgm.errors import ConfigError

# Each parameter: (default, low, high, where the default comes from).
SPEC: dict[str, tuple[Any, float, float, str]] = {
    "tasks": (60, 12, 5000, "DGM's SWE-bench staging: 10 then 50 tasks"),
    "clusters": (4, 1, 64, "assumed: a few kinds of task (repositories, kinds of fix)"),
    "seed_quality": (0.20, 0.01, 0.95, "DGM: the seed agent solves 20% on SWE-bench"),
    "task_spread": (2.2, 0.0, 6.0, "calibrated: identical agents disagree on about a fifth of the tasks"),
    "mutation_mean": (0.0, -2.0, 2.0, "calibrated: the dgm policy climbs 0.20 -> ~0.45 in 80 x 2 children"),
    "mutation_sd": (0.36, 0.0, 3.0, "calibrated with mutation_mean (logit step per cluster)"),
    "shared_mutation_sd": (0.30, 0.0, 3.0, "calibrated: a part of each step moves every cluster together"),
    "broken": (0.50, 0.0, 1.0, "DGM: about half of the children pass the compile / edit checks"),
    "diagnosis_fail": (0.02, 0.0, 1.0, "assumed: a malformed diagnosis after retries is rare"),
    "cost_diagnose_usd": (0.10, 0.0, 1e4, "assumed: one diagnosis call on a long prompt"),
    "cost_selfmod_usd": (2.0, 0.0, 1e4, "assumed: a self-modification is an agent run on the agent's own code"),
    "cost_task_usd": (1.0, 0.0, 1e4, "assumed: order of DGM's reported dollars per SWE-bench task run"),
    "cost_sd": (0.5, 0.0, 3.0, "assumed: log-normal spread of every cost and duration"),
    "seconds_diagnose": (60.0, 0.0, 1e6, "assumed"),
    "seconds_selfmod": (1800.0, 0.0, 1e6, "assumed: DGM's self-modification time limit is hours; typical runs less"),
    "seconds_check": (60.0, 0.0, 1e6, "assumed: byte-compile and the agent's own tests"),
    "seconds_task": (900.0, 0.0, 1e6, "assumed: an agent run on one SWE-bench task plus grading"),
}
BREAK_MIX = {"no change": 0.2, "does not compile": 0.25, "own tests fail": 0.2, "empty patches": 0.35}


@dataclass(frozen=True)
class WorldParams:
    tasks: int = 60
    clusters: int = 4
    seed_quality: float = 0.20
    task_spread: float = 2.2
    mutation_mean: float = 0.0
    mutation_sd: float = 0.36
    shared_mutation_sd: float = 0.30
    broken: float = 0.50
    diagnosis_fail: float = 0.02
    cost_diagnose_usd: float = 0.10
    cost_selfmod_usd: float = 2.0
    cost_task_usd: float = 1.0
    cost_sd: float = 0.5
    seconds_diagnose: float = 60.0
    seconds_selfmod: float = 1800.0
    seconds_check: float = 60.0
    seconds_task: float = 900.0
    break_mix: dict = field(default_factory=lambda: dict(BREAK_MIX), compare=False)

    @classmethod
    def from_table(cls, table: dict | None) -> "WorldParams":
        """Validate a `[world]` table: unknown keys and out-of-range values name the key and the range."""
        table = dict(table or {})
        values: dict[str, Any] = {}
        for key, value in table.items():
            if key == "break_mix":
                values[key] = _check_mix(value)
                continue
            if key not in SPEC:
                raise ConfigError(f"unknown world parameter {key!r}",
                                  hint=f"valid: {', '.join(SPEC)}, break_mix")
            default, low, high, _ = SPEC[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"world.{key} = {value!r} is not a number", hint=f"give a number in [{low}, {high}]")
            if isinstance(default, int) and not float(value).is_integer():
                raise ConfigError(f"world.{key} = {value!r} is not a whole number",
                                  hint=f"give an integer in [{low}, {high}]")
            if not low <= value <= high:
                raise ConfigError(f"world.{key} = {value!r} is out of range", hint=f"give a value in [{low}, {high}]")
            values[key] = int(value) if isinstance(default, int) else float(value)
        return cls(**values)

    def but(self, **changes: Any) -> "WorldParams":
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(changes)
        return WorldParams.from_table(data)


def _check_mix(value: Any) -> dict:
    if not isinstance(value, dict) or set(value) - set(BREAK_MIX) or not value:
        raise ConfigError(f"world.break_mix = {value!r} is not a table of stage-0 failures",
                          hint=f"keys among: {', '.join(BREAK_MIX)}; values are weights >= 0")
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 for v in value.values()) \
            or sum(value.values()) <= 0:
        raise ConfigError("world.break_mix weights must be numbers >= 0, not all 0", hint="e.g. {'no change' = 1}")
    return {k: float(v) for k, v in value.items()}


@dataclass
class Genome:
    theta: np.ndarray
    fate: str            # "healthy" or the stage-0 failure it will show


class World:
    """Tasks, their difficulties, and every agent's genome; draws are from one seeded generator."""

    def __init__(self, params: WorldParams, seed: int) -> None:
        self.params = params
        self.rng = np.random.default_rng([seed, 7])
        p = params
        self.task_ids = tuple(f"t{i:04d}" for i in range(p.tasks))
        self.cluster = np.arange(p.tasks) % p.clusters
        self.difficulty = self.rng.normal(0.0, p.task_spread, p.tasks) if p.task_spread else np.zeros(p.tasks)
        self.index = {t: i for i, t in enumerate(self.task_ids)}
        theta0 = _solve_offset(self.difficulty, p.seed_quality)
        self.genomes: list[Genome] = [Genome(np.full(p.clusters, theta0), "healthy")]
        self.node_genome: dict[str, int] = {"0": 0}
        mix = p.break_mix
        self._fates = list(mix)
        self._fate_p = np.array([mix[k] for k in self._fates]) / sum(mix.values())

    # ---- agents ------------------------------------------------------------------------------
    def solve_p(self, genome: int) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.genomes[genome].theta[self.cluster] + self.difficulty)))

    def quality(self, genome: int) -> float:
        return float(self.solve_p(genome).mean())

    def node_quality(self, node_id: str) -> float:
        return self.quality(self.node_genome[node_id])

    def mutate(self, parent_genome: int) -> int:
        """A child of the genome: a Gaussian step per cluster plus one shared step; maybe broken."""
        p = self.params
        step = self.rng.normal(p.mutation_mean, p.mutation_sd, p.clusters) + self.rng.normal(0, p.shared_mutation_sd)
        fate = "healthy"
        if self.rng.random() < p.broken:
            fate = self._fates[int(self.rng.choice(len(self._fates), p=self._fate_p))]
        self.genomes.append(Genome(self.genomes[parent_genome].theta + step, fate))
        return len(self.genomes) - 1

    def solves(self, genome: int, task: str) -> bool:
        i = self.index[task]
        g = self.genomes[genome]
        return bool(self.rng.random() < 1.0 / (1.0 + math.exp(-(g.theta[self.cluster[i]] + self.difficulty[i]))))

    def draw(self, median: float) -> float:
        """A log-normal cost or duration with the given median."""
        return float(median * math.exp(self.rng.normal(0.0, self.params.cost_sd))) if median else 0.0


def _solve_offset(difficulty: np.ndarray, quality: float) -> float:
    """The logit offset at which the mean solve probability over the tasks equals `quality`."""
    lo, hi = -20.0, 20.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if (1.0 / (1.0 + np.exp(-(mid + difficulty)))).mean() < quality:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def disagreement(world: World, genome: int = 0) -> float:
    """Expected share of tasks on which two independent runs of the same agent disagree."""
    p = world.solve_p(genome)
    return float((2 * p * (1 - p)).mean())
