"""What the GA and NSGA-II share: one DEAP population and hall of fame per target class, an
ask/tell cycle that scores every new individual of every target in one batch, batch variation of
parents, and JSON checkpoints of it all."""
from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np
from deap import base, creator, tools

from ..genomes.base import Encoding
from ..statecheck import (
    BadState,
    check_individual,
    check_int,
    check_list,
    check_python_random,
    check_rng,
    check_type,
)
from .base import (
    Elite,
    Record,
    Search,
    python_random_state,
    restore_python_random,
    restore_rng,
    rng_state,
    score_arrays,
)


def individual_maker(name: str, weights: tuple[float, ...]):
    """A function genome -> DEAP individual of a class made once per name: the individual carries
    its genome, its fitness (maximised with these weights), its confidence and when it was found."""
    if not hasattr(creator, name):
        creator.create(f"{name}Fitness", base.Fitness, weights=weights)
        creator.create(name, object, fitness=getattr(creator, f"{name}Fitness"), genome=None, confidence=0.0,
                       found_at=0)
    kind = getattr(creator, name)

    def make(genome):
        ind = kind()
        ind.genome = genome
        return ind

    return make


class PopulationSearch(Search):
    """Subclasses define ``_breed()`` (the next populations, new individuals unscored),
    ``_assign(ind, fitness, confidence, extra)``, ``_dump(ind)`` and ``_load(data)``."""

    objectives = 1  # fitness values per individual (NSGA-II: 2)

    def __init__(self, encoding: Encoding, targets: Sequence[int], rng: np.random.Generator, *,
                 population_size: int, crossover_rate: float):
        super().__init__(encoding, targets, rng)
        self.population_size = population_size
        self.crossover_rate = crossover_rate
        self.populations: list[list] = [[] for _ in self.targets]
        # The most confident individual ever seen, per target.
        self.halls = [tools.HallOfFame(1) for _ in self.targets]
        self._unscored: list | None = None  # (target, individual) pairs of the population asked for

    # -- ask / tell ---------------------------------------------------------------------------
    def ask(self) -> Any:
        if self._unscored is None:
            self.populations = self._breed()
            self._unscored = [(t, ind) for t, pop in enumerate(self.populations) for ind in pop
                              if not ind.fitness.valid]
        return self.encoding.stack([ind.genome for _, ind in self._unscored])

    def tell(self, population: Any, scores) -> Record:
        if self._unscored is None:
            raise ValueError("tell() takes the population ask() returned: call ask() first")
        unscored, self._unscored = self._unscored, None
        fitness, confidence = score_arrays(scores, len(unscored), len(self.targets))
        rows, cols = np.arange(len(unscored)), np.array([t for t, _ in unscored], dtype=np.int64)
        extra = getattr(scores, "naturalness", None)
        extra = [None] * len(unscored) if extra is None else np.asarray(extra, dtype=np.float64).tolist()
        for (_, ind), f, c, e in zip(unscored, fitness[rows, cols], confidence[rows, cols], extra):
            self.evaluations += 1
            self._assign(ind, float(f), float(c), e)
            ind.found_at = self.evaluations
        self._select()
        for hall, pop in zip(self.halls, self.populations):
            hall.update(pop)
        self.generation += 1
        return Record(self.generation, self.evaluations, 0, [hall[0].confidence for hall in self.halls])

    def pending(self) -> list:
        return [] if self._unscored is None else [self.ask()]

    def _select(self) -> None:
        """After scoring: survivors of each population (the GA keeps them all)."""

    def _crossed(self, genomes, mates: list):
        """Parents' genomes, each crossed with its mate at the crossover rate (as one batch)."""
        return self.encoding.cross_share(genomes, self.encoding.stack([ind.genome for ind in mates]),
                                         self.crossover_rate, self.rng)

    def elites(self) -> list[Elite]:
        return [Elite(target, hall[0].genome, hall[0].fitness.values[0], hall[0].confidence, hall[0].found_at)
                for target, hall in zip(self.targets, self.halls) if len(hall)]

    # -- checkpoints --------------------------------------------------------------------------
    def state_dict(self, defer: bool = False) -> dict:
        """Everything a resume needs; defer leaves each individual as a function building its JSON
        (for write_json, as in MapElites.state_dict)."""
        dump = (lambda ind: functools.partial(self._dump, ind)) if defer else self._dump
        # A population asked for but not told is saved unscored: it is scored first after a resume.
        unscored = {id(ind) for _, ind in self._unscored or ()}
        return {
            "generation": self.generation,
            "evaluations": self.evaluations,
            "rng": rng_state(self.rng),
            "python_random": python_random_state(),
            "populations": [[None if id(ind) in unscored else dump(ind) for ind in pop]
                            for pop in self.populations],
            "unscored": [[self.encoding.to_json(ind.genome) for ind in pop if id(ind) in unscored]
                         for pop in self.populations] if self._unscored is not None else None,
            "halls": [[dump(ind) for ind in hall] for hall in self.halls],
        }

    def check_state(self, state) -> None:
        check_type(state, dict, "search")
        check_int(state.get("generation"), "search.generation")
        check_int(state.get("evaluations"), "search.evaluations")
        check_rng(state.get("rng"), "search.rng")
        check_python_random(state.get("python_random"), "search.python_random")
        targets = len(self.targets)
        unscored = state.get("unscored")
        if unscored is not None:
            check_list(unscored, "search.unscored", targets)
        for key in ("populations", "halls"):
            for t, group in enumerate(check_list(state.get(key), f"search.{key}", targets)):
                holes = 0
                for i, ind in enumerate(check_list(group, f"search.{key}[{t}]")):
                    if ind is None and key == "populations":
                        holes += 1
                    else:
                        check_individual(ind, f"search.{key}[{t}][{i}]", None if self.objectives == 1 else 2)
                if key == "populations" and holes != (0 if unscored is None else
                                                      len(check_list(unscored[t], f"search.unscored[{t}]"))):
                    raise BadState(f"search.populations[{t}] has {holes} unscored places for "
                                   f"{0 if unscored is None else len(unscored[t])} unscored genomes")

    def load_state_dict(self, state: dict) -> None:
        self.check_state(state)
        self.generation = int(state["generation"])
        self.evaluations = int(state["evaluations"])
        self.rng = restore_rng(state["rng"])
        restore_python_random(state["python_random"])
        unscored = state.get("unscored")
        self.populations, self._unscored = [], None if unscored is None else []
        for t, pop in enumerate(state["populations"]):
            fresh = iter(unscored[t] if unscored is not None else ())
            loaded = []
            for data in pop:
                if data is None:
                    ind = self._new(self.encoding.from_json(next(fresh)))
                    self._unscored.append((t, ind))
                else:
                    ind = self._load(data)
                loaded.append(ind)
            self.populations.append(loaded)
        for hall, saved in zip(self.halls, state["halls"]):
            hall.clear()
            hall.update([self._load(d) for d in saved])
