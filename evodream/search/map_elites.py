"""MAP-Elites with one archive cell per target class (the paper's fooling-image algorithm).

Every generation the emitters propose children from the archive (ask); once the whole batch has
been scored against every target in one classifier call (tell), each emitter learns from its
children's scores and a child replaces the champion of *every* class whose score it beats.

The default emitter (:class:`~evodream.search.emitters.MutationEmitter`) mutates elites, with
``focus`` or ``uniform`` parent selection and per-cell 1/5-rule step sizes. Several emitters may
share a batch: each gets a fixed, equal share (the first ones one more when it does not divide).

ask() may run ahead of tell() — the driver's ``overlap`` breeds generation g+1 while g is scored —
so asked batches wait in a queue, told in the order they were asked, and are checkpointed with
their emitters' infos.
"""
from __future__ import annotations

from collections import deque
from typing import Any, Sequence

import numpy as np

from ..errors import EvodreamError
from ..genomes.base import Encoding
from ..statecheck import BadState, check_int, check_list, check_rng, check_type
from .archive import Archive
from .base import Elite, Record, Search, population_size, restore_rng, rng_state, score_arrays
from .emitters import Emitter, MutationEmitter


class MapElites(Search):
    """An :class:`Archive` of one cell per target, filled by a list of emitters."""

    def __init__(self, encoding: Encoding, targets: Sequence[int], rng: np.random.Generator, *,
                 batch_size: int = 200, emitters: Sequence[Emitter] | None = None,
                 parent_selection: str = "focus", goal: float = 0.9999, crossover_rate: float = 0.0,
                 adaptive: bool = True):
        super().__init__(encoding, targets, rng)
        self.batch_size = batch_size
        self.archive = Archive(encoding, self.targets)
        self.emitters = list(emitters) if emitters else [MutationEmitter(
            len(self.targets), parent_selection=parent_selection, goal=goal, crossover_rate=crossover_rate,
            adaptive=adaptive)]
        # Asked, not yet told: (population, [info per emitter] or None for a random batch)
        self._asked: deque = deque()
        for emitter, n in zip(self.emitters, self.shares()):
            if n < emitter.min_children:
                needed = len(self.emitters) * max(e.min_children for e in self.emitters)
                raise EvodreamError(f"the {emitter.name or type(emitter).__name__} emitter needs at least "
                                    f"{emitter.min_children} children a generation but gets {n} of the "
                                    f"{batch_size}: give --population {needed} or more")

    def shares(self) -> list[int]:
        """Children per emitter in every batch."""
        n, k = self.batch_size, len(self.emitters)
        return [n // k + (i < n % k) for i in range(k)]

    # -- ask / tell ---------------------------------------------------------------------------
    def ask(self) -> Any:
        generation = self.generation + len(self._asked)
        if len(self.archive.filled()) == 0:
            population, infos = self.encoding.random(self.batch_size, self.rng), None
        else:
            parts, infos = [], []
            for emitter, n in zip(self.emitters, self.shares()):
                children, info = emitter.ask(self.archive, n, self.rng, generation)
                parts.append(children)
                infos.append(info)
            population = parts[0] if len(parts) == 1 else self.encoding.stack(
                [g for part in parts for g in self.encoding.unstack(part)])
        self._asked.append((population, infos))
        return population

    def tell(self, population: Any, scores) -> Record:
        count = population_size(self.encoding, population)
        infos = None
        if self._asked:
            asked, infos = self._asked.popleft()
            if population is not asked and count != population_size(self.encoding, asked):
                raise ValueError("tell() takes the populations ask() returned, in the order it returned them")
        fitness, confidence = score_arrays(scores, count, len(self.targets))
        self.evaluations += count
        if infos is not None:
            start = 0
            for emitter, n, info in zip(self.emitters, self.shares(), infos):
                part = slice(start, start + n)
                children = population if len(self.emitters) == 1 else self.encoding.stack(
                    self.encoding.unstack(population)[part])
                emitter.tell(self.archive, children, fitness[part], info)
                start += n
        self.archive.insert(population, fitness, confidence, self.evaluations)
        self.generation += 1
        return Record(self.generation, self.evaluations, 0, self.archive.confidence.tolist())

    def pending(self) -> list:
        return [population for population, _ in self._asked]

    def elites(self) -> list[Elite]:
        return self.archive.elites()

    # Shortcuts to the archive, as the search's own fields (reports and tests read these).
    @property
    def confidence(self) -> np.ndarray:
        return self.archive.confidence

    @property
    def fitness(self) -> np.ndarray:
        return self.archive.fitness

    # -- checkpoints --------------------------------------------------------------------------
    def state_dict(self, defer: bool = False) -> dict:
        to_json = self.encoding.to_json
        return {
            "generation": self.generation,
            "evaluations": self.evaluations,
            "rng": rng_state(self.rng),
            "cells": self.archive.state_dict(defer),
            "emitters": [{"name": e.name, **e.state_dict()} for e in self.emitters],
            "asked": [{"genomes": [to_json(g) for g in self.encoding.unstack(population)], "infos": infos}
                      for population, infos in self._asked],
        }

    def check_state(self, state) -> None:
        check_type(state, dict, "search")
        check_int(state.get("generation"), "search.generation")
        check_int(state.get("evaluations"), "search.evaluations")
        check_rng(state.get("rng"), "search.rng")
        Archive.check_state(state.get("cells"), "search.cells", len(self.targets))
        saved = check_list(state.get("emitters"), "search.emitters", len(self.emitters), "emitters")
        for i, (emitter, data) in enumerate(zip(self.emitters, saved)):
            if check_type(data, dict, f"search.emitters[{i}]").get("name") != emitter.name:
                raise BadState(f"search.emitters[{i}] is {data.get('name')!r:.40}, "
                               f"the run uses {emitter.name!r}")
        for i, ask in enumerate(check_list(state.get("asked"), "search.asked")):
            where = f"search.asked[{i}]"
            genomes = check_list(check_type(ask, dict, where).get("genomes"), f"{where}.genomes")
            if not genomes:
                raise BadState(f"{where}.genomes is empty")
            if ask.get("infos") is not None:
                infos = check_list(ask["infos"], f"{where}.infos", len(self.emitters), "emitter infos")
                if len(genomes) != self.batch_size:
                    raise BadState(f"{where}.genomes holds {len(genomes)} genomes, "
                                   f"batches hold {self.batch_size}")
                for j, (emitter, n, info) in enumerate(zip(self.emitters, self.shares(), infos)):
                    emitter.check_info(info, n, len(self.targets), f"{where}.infos[{j}]")

    def load_state_dict(self, state: dict) -> None:
        self.check_state(state)
        self.generation = int(state["generation"])
        self.evaluations = int(state["evaluations"])
        self.rng = restore_rng(state["rng"])
        self.archive.load_state_dict(state["cells"])
        for i, (emitter, data) in enumerate(zip(self.emitters, state["emitters"])):
            try:
                emitter.load_state_dict({k: v for k, v in data.items() if k != "name"})
            except BadState as exc:
                raise BadState(f"search.emitters[{i}].{exc}") from None
        self._asked = deque(
            (self.encoding.stack([self.encoding.from_json(g) for g in ask["genomes"]]), ask.get("infos"))
            for ask in state["asked"])
