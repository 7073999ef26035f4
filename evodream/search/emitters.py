"""Emitters: what proposes MAP-Elites' children from the archive, and learns from their scores.

An emitter is asked for ``n`` children with the archive as it stands, returns them with an
``info`` of its own (JSON-ready: it is checkpointed while the children are being scored), and is
told their fitness against every target *before* they enter the archive, so it can compare them
with the champions they challenge. Emitters register by name in :data:`EMITTERS`; MapElites runs
any mix of them, each with its share of every batch.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ..registry import Registry
from ..statecheck import BadState, check_list, check_number
from .archive import Archive

EMITTERS = Registry("emitter")

PARENT_SELECTIONS = ("focus", "uniform")
MIN_STRENGTH, MAX_STRENGTH = 0.02, 5.0


class Emitter(ABC):
    """Proposes children from an archive (ask) and adapts to how they scored (tell)."""

    name = ""
    min_children = 1  # fewest children per generation it can work with

    @abstractmethod
    def ask(self, archive: Archive, n: int, rng: np.random.Generator, generation: int) -> tuple[Any, Any]:
        """(n children as the encoding's population, JSON-ready info handed back to tell)."""

    def tell(self, archive: Archive, children: Any, fitness: np.ndarray, info: Any) -> None:
        """``fitness`` (n, targets) of the children, told before they enter the archive."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore state_dict(); raise BadState naming the first unusable field."""

    def check_info(self, info: Any, n: int, cells: int, where: str) -> None:
        """Check an info read back from a checkpoint (one pending ask); raise BadState if unusable."""


class MutationEmitter(Emitter):
    """Mutate (and optionally cross) archive elites; each cell's step size adapts by the 1/5 rule.

    Parent selection: ``uniform`` (the paper) draws parents from every filled cell; ``focus`` only
    from cells still below the goal, so no evaluations go to polishing classes that are done.
    With ``adaptive``, a child that beats its own parent's cell widens that cell's mutations and a
    failure narrows them, so each class settles at the step size that works for it.
    """

    name = "mutation"

    def __init__(self, cells: int, *, parent_selection: str = "focus", goal: float = 0.9999,
                 crossover_rate: float = 0.0, adaptive: bool = True):
        if parent_selection not in PARENT_SELECTIONS:
            raise ValueError(f"parent_selection must be one of {PARENT_SELECTIONS}")
        self.parent_selection = parent_selection
        self.goal = goal
        self.crossover_rate = crossover_rate
        self.adaptive = adaptive
        self.strength = np.ones(cells)  # per-cell multiplier of the encoding's mutation rate

    def ask(self, archive, n, rng, generation):
        encoding = archive.encoding
        focus = self.parent_selection == "focus"
        pool = archive.unfinished_or_filled(self.goal) if focus else archive.filled()
        cells = pool[rng.integers(0, len(pool), size=n)]  # (rng.choice's draws, at half its cost)
        strength = self.strength[cells] if self.adaptive else None
        children = encoding.mutate(archive.parents(cells), rng, generation, strength=strength)
        if self.crossover_rate > 0:
            mates = archive.parents(rng.choice(archive.filled(), size=n))
            children = encoding.cross_share(children, mates, self.crossover_rate, rng)
        return children, cells.tolist()

    def tell(self, archive, children, fitness, info):
        if not self.adaptive:
            return
        cells = np.asarray(info, dtype=np.int64)
        success = fitness[np.arange(len(cells)), cells] > archive.fitness[cells]
        ups = np.bincount(cells, weights=success, minlength=len(self.strength))
        downs = np.bincount(cells, weights=~success, minlength=len(self.strength))
        self.strength *= 1.5 ** (ups - downs / 4)
        # A cell whose steps have shrunk to nothing is stuck on a local peak: start it wide again.
        self.strength[self.strength < MIN_STRENGTH] = 1.0
        np.minimum(self.strength, MAX_STRENGTH, out=self.strength)

    def state_dict(self) -> dict:
        return {"strength": self.strength.tolist()}

    def load_state_dict(self, state: dict) -> None:
        check_list(state.get("strength"), "strength", len(self.strength), "values")
        for i, value in enumerate(state["strength"]):
            check_number(value, f"strength[{i}]", 0.0)
        self.strength = np.asarray(state["strength"], dtype=np.float64)

    def check_info(self, info, n, cells, where):
        check_list(info, where, n, "parent cells")
        for i, cell in enumerate(info):
            if not isinstance(cell, int) or isinstance(cell, bool) or not 0 <= cell < cells:
                raise BadState(f"{where}[{i}] must be a cell index below {cells}, got {cell!r:.40}")


@EMITTERS.register("mutation", help="mutate archive elites, per-cell 1/5-rule step sizes")
def _build_mutation(config, encoding, targets) -> MutationEmitter:
    return MutationEmitter(len(targets), parent_selection=config.parent_selection, goal=config.goal or 1.0,
                           crossover_rate=config.crossover_rate, adaptive=config.adaptive)
