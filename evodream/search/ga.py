"""A genetic algorithm on DEAP: one population per target class, all evaluated in one call.

The loop is DEAP's: tournament selection, variation through the toolbox, a HallOfFame per
target and a Logbook with Statistics. Where the textbook loop calls ``evaluate`` once per
individual, this one renders and scores every invalid individual of every target's population
in a single batched classifier call, and mutates a whole offspring batch with array operations.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from deap import base, tools

from ..errors import EvodreamError
from ..genomes.base import Encoding
from .base import Record
from .populations import PopulationSearch, individual_maker

LOGBOOK_KEEP = 1000  # generations of DEAP's Logbook kept in memory (~350 bytes each)

_individual = individual_maker("EvodreamIndividual", (1.0,))


class GeneticAlgorithm(PopulationSearch):
    """DEAP's generational GA per target: tournament parents, mutation, elitism, a hall of fame."""

    def __init__(self, encoding: Encoding, targets: Sequence[int], rng: np.random.Generator, *,
                 population_size: int = 10, tournament_size: int = 3, elite_count: int = 1,
                 crossover_rate: float = 0.0, mutation_rate: float = 1.0):
        if population_size <= elite_count:
            raise EvodreamError(f"the GA keeps {elite_count} elite(s) and breeds the rest: "
                                f"give --population {elite_count + 1} or more, not {population_size}")
        super().__init__(encoding, targets, rng, population_size=population_size,
                         crossover_rate=crossover_rate)
        self.elite_count = elite_count
        self.mutation_rate = mutation_rate  # chance an offspring is mutated (DEAP's mutpb)
        self.toolbox = base.Toolbox()
        self.toolbox.register("select", tools.selTournament, tournsize=tournament_size)
        self.toolbox.register("elites", tools.selBest)
        self.stats = tools.Statistics(lambda ind: ind.confidence)
        for name, fn in (("max", np.max), ("median", np.median), ("min", np.min)):
            self.stats.register(name, fn)
        self.logbook = tools.Logbook()

    # -- one generation ----------------------------------------------------------------------
    def _breed(self) -> list[list]:
        if self.generation == 0:
            return [[_individual(g) for g in self.encoding.unstack(
                self.encoding.random(self.population_size, self.rng))] for _ in self.targets]
        return [self._offspring(pop) for pop in self.populations]

    def tell(self, population, scores) -> Record:
        record = super().tell(population, scores)
        self.logbook.record(gen=self.generation, evals=self.evaluations,
                            **self.stats.compile([hall[0] for hall in self.halls]))
        if len(self.logbook) > 2 * LOGBOOK_KEEP:  # a long run must not grow: metrics.csv holds the history
            list.__delitem__(self.logbook, slice(0,
                                                 -LOGBOOK_KEEP))  # (Logbook's own slice deletion is broken)
        return record

    def _offspring(self, population: list) -> list:
        elites = self.toolbox.elites(population, self.elite_count)
        chosen = self.toolbox.select(population, self.population_size - len(elites))
        genomes = self.encoding.stack([ind.genome for ind in chosen])
        if self.crossover_rate > 0:
            genomes = self._crossed(genomes, self.toolbox.select(population, len(chosen)))
        mutated = self.encoding.unstack(self.encoding.mutate(genomes, self.rng, self.generation))
        keep = self.rng.random(len(chosen)) >= self.mutation_rate
        originals = self.encoding.unstack(genomes)
        children = [_individual(o if k else m) for o, m, k in zip(originals, mutated, keep)]
        if self.crossover_rate == 0:
            # An unmutated, uncrossed child is its parent: it keeps the parent's known fitness.
            for child, parent, k in zip(children, chosen, keep):
                if k:
                    child.fitness.values, child.confidence = parent.fitness.values, parent.confidence
        return list(elites) + children

    @staticmethod
    def _new(genome):
        return _individual(genome)

    @staticmethod
    def _assign(ind, fitness: float, confidence: float, extra) -> None:
        ind.fitness.values = (fitness,)
        ind.confidence = confidence

    # -- checkpoints: how one individual is saved ------------------------------------------------
    def _dump(self, ind) -> dict:
        return {"genome": self.encoding.to_json(ind.genome), "fitness": ind.fitness.values[0],
                "confidence": ind.confidence, "found_at": ind.found_at}

    def _load(self, data: dict):
        ind = _individual(self.encoding.from_json(data["genome"]))
        ind.fitness.values = (float(data["fitness"]),)
        ind.confidence = float(data["confidence"])
        ind.found_at = int(data["found_at"])
        return ind
