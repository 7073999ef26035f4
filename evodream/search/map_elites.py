"""MAP-Elites with one archive cell per target class (the paper's fooling-image algorithm).

Every generation draws parents from the archive, varies them, evaluates the whole batch in one
classifier call, and a child replaces the champion of *every* class whose score it beats.

Parent selection:

- ``uniform`` — the paper: parents uniformly from the filled cells.
- ``focus``   — parents only from cells still below the goal confidence, so no evaluations are
  spent polishing classes that are done; each such cell gets an equal share.

``overlap``: breed generation g+1 from the archive as it stands before generation g's scores
arrive, and render its images on a second thread while the classifier scores generation g. Parents
are then one generation stale (negligible with many cells), and rendering -- 10-20% of the time of
a 224-px CPPN run on one core -- moves onto a spare core. A different, equally reproducible run.
"""
from __future__ import annotations

import functools
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ..genomes.base import Encoding
from ..objectives.objective import Objective
from .base import Elite, Record, restore_rng, rng_state

PARENT_SELECTIONS = ("focus", "uniform")
MIN_STRENGTH, MAX_STRENGTH = 0.02, 5.0


class MapElites:
    def __init__(self, encoding: Encoding, objective: Objective, rng: np.random.Generator, *,
                 batch_size: int = 200, parent_selection: str = "focus", goal: float = 0.9999,
                 crossover_rate: float = 0.0, adaptive: bool = True, render_size: int | None = None,
                 overlap: bool = False):
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
        self.overlap = overlap
        # overlap: the next generation (children, parent cells), bred ahead, and its images in the making
        self._next: tuple | None = None
        self._next_images: Future | None = None
        self._renderer: ThreadPoolExecutor | None = None
        n = len(objective.targets)
        # Per-cell mutation strength (a multiplier of the encoding's rate), tuned by the 1/5 success rule.
        self.strength = np.ones(n)
        self.genomes: list = [None] * n
        self.fitness = np.full(n, -np.inf)
        self.confidence = np.zeros(n)
        self.found_at = np.zeros(n, dtype=np.int64)
        self.generation = 0
        self.evaluations = 0

    # -- one generation ---------------------------------------------------------------------
    def step(self) -> Record:
        if self._next is None:
            children, cells = self._children()
            images = self._render(children)
        else:
            (children, cells), images = self._next, self._next_images.result()  # (re-raises a render error)
            self._next = self._next_images = None
        if self.overlap:
            self._next = self._children()
            self._next_images = self._render_in_background(self._next[0])
        scores = self.objective.score(images)
        self.evaluations += scores.fitness.shape[0]
        fitness = scores.fitness.numpy().astype(np.float64)
        if self.adaptive and cells is not None:
            self._adapt(cells, fitness)
        self._insert(children, fitness, scores.confidence.numpy())
        self.generation += 1
        return Record(self.generation, self.evaluations, self.objective.classifier.queries,
                      self.confidence.tolist())

    def _render(self, children):
        return self.encoding.render(children, self.render_size)

    def _render_in_background(self, children) -> Future:
        if self._renderer is None:
            self._renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evodream-render")
        return self._renderer.submit(self._render, children)

    def close(self) -> None:
        """Stop the render thread (overlap) once its work is done; stepping again restarts it."""
        if self._renderer is not None:
            self._renderer.shutdown(wait=True)
            self._renderer = None

    def _children(self) -> tuple:
        """The next batch of children and the archive cell of each one's parent (None: random ones)."""
        filled = np.flatnonzero(np.isfinite(self.fitness))
        if len(filled) == 0:
            return self.encoding.random(self.batch_size, self.rng), None
        pool = filled
        if self.parent_selection == "focus":
            unfinished = filled[self.confidence[filled] < self.goal]
            if len(unfinished):
                pool = unfinished
        cells = self.rng.choice(pool, size=self.batch_size)
        parents = self.encoding.stack([self.genomes[c] for c in cells])
        strength = self.strength[cells] if self.adaptive else None
        children = self.encoding.mutate(parents, self.rng, self.generation, strength=strength)
        if self.crossover_rate > 0:
            mates = self.encoding.stack([self.genomes[c] for c in self.rng.choice(filled, size=self.batch_size)])
            crossed = self.encoding.crossover(children, mates, self.rng)
            use = self.rng.random(self.batch_size) < self.crossover_rate
            children = self.encoding.stack([c if u else k for c, k, u in zip(
                self.encoding.unstack(crossed), self.encoding.unstack(children), use)])
        return children, cells

    def _adapt(self, cells: np.ndarray, fitness: np.ndarray) -> None:
        """1/5 success rule per cell: a child that beats its own parent's cell widens that cell's
        mutations, a failure narrows them, so each class settles at the step size that works for it."""
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
        # One copy per winning child, shared by every cell it wins (genomes are never changed in
        # place): a first generation of 32 children fills 1,000 cells with 32 genomes, not 1,000.
        # (one take per winner, not a select of all winners: a batch copy of a different size every
        # generation fragmented the heap of a direct ImageNet run.)
        winner_genomes = {i: self.encoding.take(children, i) for i in np.unique(best[improved]).tolist()}
        for cell in improved:
            self.genomes[cell] = winner_genomes[int(best[cell])]
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
        state = {
            "generation": self.generation,
            "evaluations": self.evaluations,
            "rng": rng_state(self.rng),
            "strength": self.strength.tolist(),
            "cells": [None if g is None else {
                "genome": functools.partial(to_json, g) if defer else to_json(g), "fitness": float(self.fitness[i]),
                "confidence": float(self.confidence[i]), "found_at": int(self.found_at[i])}
                for i, g in enumerate(self.genomes)],
        }
        if self._next is not None:  # overlap: the generation already bred (its images are re-rendered on resume)
            children, cells = self._next
            state["next"] = {"genomes": [to_json(g) for g in self.encoding.unstack(children)],
                             "parent_cells": None if cells is None else cells.tolist()}
        return state

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
        self._next = self._next_images = None
        if state.get("next") is not None:
            children = self.encoding.stack([self.encoding.from_json(g) for g in state["next"]["genomes"]])
            cells = state["next"]["parent_cells"]
            self._next = (children, None if cells is None else np.asarray(cells, dtype=np.int64))
            self._next_images = self._render_in_background(children)
