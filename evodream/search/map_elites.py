"""MAP-Elites with one archive cell per target class (the paper's fooling-image algorithm).

Every generation draws parents from the archive, varies them, evaluates the whole batch in one
classifier call, and a child replaces the champion of *every* class whose score it beats.

Parent selection:

- ``uniform`` — the paper: parents uniformly from the filled cells.
- ``focus``   — parents only from cells still below the goal confidence, so no evaluations are
  spent polishing classes that are done; each such cell gets an equal share.
"""
from __future__ import annotations

import functools

import numpy as np

from ..genomes.base import Encoding
from ..objectives.objective import Objective
from .base import Elite, Record, restore_rng, rng_state

PARENT_SELECTIONS = ("focus", "uniform")
MIN_STRENGTH, MAX_STRENGTH = 0.02, 5.0


class MapElites:
    def __init__(self, encoding: Encoding, objective: Objective, rng: np.random.Generator, *,
                 batch_size: int = 200, parent_selection: str = "focus", goal: float = 0.9999,
                 crossover_rate: float = 0.0, adaptive: bool = True, render_size: int | None = None):
        if parent_selection not in PARENT_SELECTIONS:
            raise ValueError(f"parent_selection must be one of {PARENT_SELECTIONS}")
        self.encoding = encoding
        self.objective = objective
        self.rng = rng
        self.batch_size = batch_size
        self.parent_selection = parent_selection
        self.goal = goal
        self.crossover_rate = crossover_rate
        self.render_size = render_size
        self.adaptive = adaptive
        n = len(objective.targets)
        # Per-cell mutation strength (a multiplier of the encoding's rate), tuned by the 1/5 success rule.
        self.strength = np.ones(n)
        self._parent_cells = np.zeros(0, dtype=np.int64)
        self.genomes: list = [None] * n
        self.fitness = np.full(n, -np.inf)
        self.confidence = np.zeros(n)
        self.found_at = np.zeros(n, dtype=np.int64)
        self.generation = 0
        self.evaluations = 0

    # -- one generation ---------------------------------------------------------------------
    def step(self) -> Record:
        children = self._children()
        scores = self.objective.score(self.encoding.render(children, self.render_size))
        self.evaluations += scores.fitness.shape[0]
        fitness = scores.fitness.numpy().astype(np.float64)
        if self.adaptive and len(self._parent_cells):
            self._adapt(fitness)
        self._insert(children, fitness, scores.confidence.numpy())
        self.generation += 1
        return Record(self.generation, self.evaluations, self.objective.classifier.queries,
                      self.confidence.tolist())

    def _children(self):
        filled = np.flatnonzero(np.isfinite(self.fitness))
        if len(filled) == 0:
            return self.encoding.random(self.batch_size, self.rng)
        pool = filled
        if self.parent_selection == "focus":
            unfinished = filled[self.confidence[filled] < self.goal]
            if len(unfinished):
                pool = unfinished
        cells = self.rng.choice(pool, size=self.batch_size)
        self._parent_cells = cells
        parents = self.encoding.stack([self.genomes[c] for c in cells])
        strength = self.strength[cells] if self.adaptive else None
        children = self.encoding.mutate(parents, self.rng, self.generation, strength=strength)
        if self.crossover_rate > 0:
            mates = self.encoding.stack([self.genomes[c] for c in self.rng.choice(filled, size=self.batch_size)])
            crossed = self.encoding.crossover(children, mates, self.rng)
            use = self.rng.random(self.batch_size) < self.crossover_rate
            children = self.encoding.stack([c if u else k for c, k, u in zip(
                self.encoding.unstack(crossed), self.encoding.unstack(children), use)])
        return children

    def _adapt(self, fitness: np.ndarray) -> None:
        """1/5 success rule per cell: a child that beats its own parent's cell widens that cell's
        mutations, a failure narrows them, so each class settles at the step size that works for it."""
        cells = self._parent_cells
        success = fitness[np.arange(len(cells)), cells] > self.fitness[cells]
        ups = np.bincount(cells, weights=success, minlength=len(self.strength))
        downs = np.bincount(cells, weights=~success, minlength=len(self.strength))
        self.strength *= 1.5 ** (ups - downs / 4)
        # A cell whose steps have shrunk to nothing is stuck on a local peak: start it wide again.
        self.strength[self.strength < MIN_STRENGTH] = 1.0
        np.minimum(self.strength, MAX_STRENGTH, out=self.strength)

    def _insert(self, children, fitness: np.ndarray, confidence: np.ndarray) -> None:
        best = fitness.argmax(axis=0)
        best_fitness = fitness[best, np.arange(fitness.shape[1])]
        improved = np.flatnonzero(best_fitness > self.fitness)
        if len(improved) == 0:
            return
        genomes = self.encoding.unstack(self.encoding.select(children, best[improved]))
        for cell, genome in zip(improved, genomes):
            self.genomes[cell] = genome
            self.fitness[cell] = best_fitness[cell]
            self.confidence[cell] = confidence[best[cell], cell]
            self.found_at[cell] = self.evaluations

    # -- results and checkpoints --------------------------------------------------------------
    def elites(self) -> list[Elite]:
        return [Elite(self.objective.targets[i], g, float(self.fitness[i]), float(self.confidence[i]),
                      int(self.found_at[i]))
                for i, g in enumerate(self.genomes) if g is not None]

    def state_dict(self, defer: bool = False) -> dict:
        """Everything a resume needs. With defer, genomes are left as functions that build their
        JSON, for write_json to call one at a time (a 1,000-cell direct archive is ~800 MB of it)."""
        to_json = self.encoding.to_json
        return {
            "generation": self.generation,
            "evaluations": self.evaluations,
            "rng": rng_state(self.rng),
            "strength": self.strength.tolist(),
            "cells": [None if g is None else {
                "genome": functools.partial(to_json, g) if defer else to_json(g), "fitness": float(self.fitness[i]),
                "confidence": float(self.confidence[i]), "found_at": int(self.found_at[i])}
                for i, g in enumerate(self.genomes)],
        }

    def load_state_dict(self, state: dict) -> None:
        self.generation = int(state["generation"])
        self.evaluations = int(state["evaluations"])
        self.rng = restore_rng(state["rng"])
        self.strength = np.asarray(state["strength"], dtype=np.float64)
        for i, cell in enumerate(state["cells"]):
            if cell is not None:
                self.genomes[i] = self.encoding.from_json(cell["genome"])
                self.fitness[i] = cell["fitness"]
                self.confidence[i] = cell["confidence"]
                self.found_at[i] = cell["found_at"]
