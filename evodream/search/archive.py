"""The MAP-Elites archive: one cell per target class, holding the best genome seen for it.

A child enters *every* cell whose champion it beats (the paper's rule: one image may be the best
"king penguin" and the best "starfish" at once), so a batch scored against all targets fills and
improves many cells from one classifier call.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..statecheck import check_individual, check_list
from .base import Elite

if TYPE_CHECKING:
    from ..genomes.base import Encoding


class Archive:
    """Per target: genome, fitness, confidence and the evaluation count at which it was found."""

    def __init__(self, encoding: Encoding, targets: Sequence[int]):
        self.encoding = encoding
        self.targets = list(targets)
        n = len(self.targets)
        self.genomes: list = [None] * n
        self.fitness = np.full(n, -np.inf)
        self.confidence = np.zeros(n)
        self.found_at = np.zeros(n, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.targets)

    def filled(self) -> np.ndarray:
        """Indices of the cells that hold a genome."""
        return np.flatnonzero(np.isfinite(self.fitness))

    def unfinished_or_filled(self, goal: float) -> np.ndarray:
        """The filled cells still below the goal; every filled cell once all of them reached it."""
        filled = self.filled()
        unfinished = filled[self.confidence[filled] < goal]
        return unfinished if len(unfinished) else filled

    def parents(self, cells: np.ndarray) -> Any:
        """A population of the genomes in these cells (repeats allowed)."""
        return self.encoding.stack([self.genomes[c] for c in cells])

    def insert(self, children: Any, fitness: np.ndarray, confidence: np.ndarray,
               evaluations: int) -> np.ndarray:
        """Put each child into every cell it beats; returns the indices of the improved cells."""
        best = fitness.argmax(axis=0)
        best_fitness = fitness[best, np.arange(fitness.shape[1])]
        improved = np.flatnonzero(best_fitness > self.fitness)
        if len(improved) == 0:
            return improved
        # One copy per winning child, shared by every cell it wins (genomes are never changed in
        # place): a first generation of 32 children fills 1,000 cells with 32 genomes, not 1,000.
        # (one take per winner, not a select of all winners: a batch copy of a different size every
        # generation fragmented the heap of a direct ImageNet run.)
        winners = {i: self.encoding.take(children, i) for i in np.unique(best[improved]).tolist()}
        for cell in improved:
            self.genomes[cell] = winners[int(best[cell])]
            self.fitness[cell] = best_fitness[cell]
            self.confidence[cell] = confidence[best[cell], cell]
            self.found_at[cell] = evaluations
        return improved

    def elites(self) -> list[Elite]:
        return [Elite(self.targets[i], g, float(self.fitness[i]), float(self.confidence[i]),
                      int(self.found_at[i]))
                for i, g in enumerate(self.genomes) if g is not None]

    def state_dict(self, defer: bool = False) -> list:
        to_json = self.encoding.to_json
        return [None if g is None else {
            "genome": functools.partial(to_json, g) if defer else to_json(g),
            "fitness": float(self.fitness[i]),
            "confidence": float(self.confidence[i]), "found_at": int(self.found_at[i])}
            for i, g in enumerate(self.genomes)]

    @staticmethod
    def check_state(cells, where: str, targets: int) -> None:
        check_list(cells, where, targets, "cells")
        for i, cell in enumerate(cells):
            if cell is not None:
                check_individual(cell, f"{where}[{i}]")

    def load_state_dict(self, cells: list) -> None:
        for i, cell in enumerate(cells):
            if cell is not None:
                self.genomes[i] = self.encoding.from_json(cell["genome"])
                self.fitness[i] = cell["fitness"]
                self.confidence[i] = cell["confidence"]
                self.found_at[i] = cell["found_at"]
