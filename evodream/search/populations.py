"""What the GA and NSGA-II share: one DEAP population and hall of fame per target class,
batch variation of parents, and JSON checkpoints of it all."""
from __future__ import annotations

import functools

import numpy as np
from deap import tools

from ..genomes.base import Encoding
from ..objectives.objective import Objective
from .base import Elite, python_random_state, restore_python_random, restore_rng, rng_state


class PopulationSearch:
    """Subclasses define ``step()``, ``_dump(ind)`` and ``_load(data)`` (one individual to and from JSON)."""

    def __init__(self, encoding: Encoding, objective: Objective, rng: np.random.Generator, *,
                 population_size: int, crossover_rate: float, render_size: int | None):
        self.encoding = encoding
        self.objective = objective
        self.rng = rng
        self.population_size = population_size
        self.crossover_rate = crossover_rate
        self.render_size = render_size
        self.generation = 0
        self.evaluations = 0
        self.populations: list[list] = [[] for _ in objective.targets]
        # The most confident individual ever seen, per target.
        self.halls = [tools.HallOfFame(1) for _ in objective.targets]

    def _crossed(self, genomes, mates: list):
        """Parents' genomes, each crossed with its mate at the crossover rate (as one batch)."""
        if self.crossover_rate <= 0:
            return genomes
        crossed = self.encoding.unstack(self.encoding.crossover(
            genomes, self.encoding.stack([ind.genome for ind in mates]), self.rng))
        use = self.rng.random(len(crossed)) < self.crossover_rate
        return self.encoding.stack([c if u else g for c, g, u in zip(crossed, self.encoding.unstack(genomes), use)])

    def elites(self) -> list[Elite]:
        return [Elite(target, hall[0].genome, hall[0].fitness.values[0], hall[0].confidence, hall[0].found_at)
                for target, hall in zip(self.objective.targets, self.halls) if len(hall)]

    def state_dict(self, defer: bool = False) -> dict:
        """Everything a resume needs; defer leaves each individual as a function building its JSON
        (for write_json, as in MapElites.state_dict)."""
        dump = (lambda ind: functools.partial(self._dump, ind)) if defer else self._dump
        return {
            "generation": self.generation,
            "evaluations": self.evaluations,
            "rng": rng_state(self.rng),
            "python_random": python_random_state(),
            "populations": [[dump(ind) for ind in pop] for pop in self.populations],
            "halls": [[dump(ind) for ind in hall] for hall in self.halls],
        }

    def load_state_dict(self, state: dict) -> None:
        self.generation = int(state["generation"])
        self.evaluations = int(state["evaluations"])
        self.rng = restore_rng(state["rng"])
        restore_python_random(state["python_random"])
        self.populations = [[self._load(d) for d in pop] for pop in state["populations"]]
        for hall, saved in zip(self.halls, state["halls"]):
            hall.clear()
            hall.update([self._load(d) for d in saved])
