"""NSGA-II on two objectives: target confidence and naturalness (DEAP's selNSGA2).

Instead of folding priors into one fitness with hand-set weights, NSGA-II keeps the whole
trade-off: each target class has its own population, and every generation

1. picks parents by binary tournament (the one that dominates wins; otherwise the larger
   crowding distance, i.e. the lonelier point on its front),
2. mutates them (and crosses them where crossover is on) into as many children,
3. has every child of every target scored in one batch (tell): log-probability of the target
   (no priors) and ``naturalness()`` in [0, 1], which the Evaluator adds because ``needs`` asks,
4. keeps the best half of parents + children by non-dominated sorting and crowding distance
   (``deap.tools.selNSGA2``).

``pareto_front()`` returns the first non-dominated front of each population; ``elites()`` the
most confident individual seen per target, as the other searches do.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from deap import base, tools

from ..genomes.base import Encoding
from .populations import PopulationSearch, individual_maker

# Both maximised: (log-probability of the target, naturalness).
_individual = individual_maker("EvodreamIndividual2", (1.0, 1.0))


class NSGA2(PopulationSearch):
    """Per target, a population sorted by non-domination on (log-probability, naturalness)."""

    needs = ("naturalness",)
    objectives = 2

    def __init__(self, encoding: Encoding, targets: Sequence[int], rng: np.random.Generator, *,
                 population_size: int = 20, crossover_rate: float = 0.0):
        super().__init__(encoding, targets, rng, population_size=population_size,
                         crossover_rate=crossover_rate)
        self.toolbox = base.Toolbox()
        self.toolbox.register("select", tools.selNSGA2)

    # -- one generation ----------------------------------------------------------------------
    def _breed(self) -> list[list]:
        """Generation 0: random populations; then each population with its children appended."""
        if self.generation == 0:
            return [[_individual(g) for g in self.encoding.unstack(
                self.encoding.random(self.population_size, self.rng))] for _ in self.targets]
        return [pop + self._offspring(pop) for pop in self.populations]

    def _select(self) -> None:
        # Generation 0: selNSGA2 on the population itself only assigns the crowding distances
        # tournaments need; later it keeps the best half of parents + children.
        self.populations = [self.toolbox.select(pop, self.population_size) for pop in self.populations]

    def _tournament(self, population: list, k: int) -> list:
        """Binary tournaments on dominance, then crowding distance (NSGA-II's mating selection)."""
        pairs = self.rng.integers(0, len(population), size=(k, 2))
        chosen = []
        for i, j in pairs:
            a, b = population[i], population[j]
            if a.fitness.dominates(b.fitness):
                chosen.append(a)
            elif b.fitness.dominates(a.fitness):
                chosen.append(b)
            else:
                chosen.append(a if a.fitness.crowding_dist >= b.fitness.crowding_dist else b)
        return chosen

    def _offspring(self, population: list) -> list:
        parents = self._tournament(population, self.population_size)
        genomes = self.encoding.stack([ind.genome for ind in parents])
        if self.crossover_rate > 0:
            genomes = self._crossed(genomes, self._tournament(population, len(parents)))
        return [_individual(g) for g in self.encoding.unstack(self.encoding.mutate(genomes, self.rng,
                                                                                   self.generation))]

    @staticmethod
    def _new(genome):
        return _individual(genome)

    @staticmethod
    def _assign(ind, fitness: float, confidence: float, extra) -> None:
        if extra is None:
            raise ValueError("NSGA-II needs Scores with naturalness (the Evaluator adds it for searches "
                             "whose `needs` name it)")
        ind.fitness.values = (fitness, float(extra))
        ind.confidence = confidence

    # -- results and checkpoints --------------------------------------------------------------
    def pareto_front(self) -> list[tuple[int, list]]:
        """Per target: (class index, its distinct non-dominated individuals, most confident first)."""
        fronts = []
        for target, pop in zip(self.targets, self.populations):
            if pop:
                front = tools.sortNondominated(pop, len(pop), first_front_only=True)[0]
                # Clones score alike and do not dominate each other: keep one point per score pair.
                unique = {ind.fitness.values: ind for ind in reversed(front)}
                fronts.append((target, sorted(unique.values(), key=lambda ind: -ind.fitness.values[0])))
        return fronts

    def _dump(self, ind) -> dict:
        crowding = getattr(ind.fitness, "crowding_dist", 0.0)
        return {"genome": self.encoding.to_json(ind.genome), "fitness": list(ind.fitness.values),
                "confidence": ind.confidence, "found_at": ind.found_at,
                "crowding": None if math.isinf(crowding) else crowding}  # JSON has no infinity

    def _load(self, data: dict):
        ind = _individual(self.encoding.from_json(data["genome"]))
        ind.fitness.values = tuple(float(v) for v in data["fitness"])
        ind.fitness.crowding_dist = math.inf if data["crowding"] is None else float(data["crowding"])
        ind.confidence = float(data["confidence"])
        ind.found_at = int(data["found_at"])
        return ind
