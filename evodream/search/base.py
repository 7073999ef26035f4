"""The search protocol (ask/tell) and what every search shares: elites, records, RNG states.

A search proposes a population with :meth:`Search.ask` and learns from its scores with
:meth:`Search.tell`; it never scores anything itself, so the caller decides how images are made
and judged (the :class:`~evodream.evaluator.Evaluator`, a pool of workers, or the user's own
function)::

    pop = search.ask()
    search.tell(pop, scores)      # Scores(fitness, confidence), each (len(pop), len(targets))

State for checkpoints is JSON (:meth:`state_dict` / :meth:`load_state_dict`); each search checks
its own saved state before using it.
"""
from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:
    from ..genomes.base import Encoding


@dataclass
class Elite:
    target: int            # class index in the classifier
    genome: object
    fitness: float
    confidence: float      # softmax probability of the target class
    found_at: int          # evaluation count when this genome was found


@dataclass
class Record:
    """One generation's numbers, as metrics.csv stores them."""

    generation: int
    evaluations: int
    queries: int
    confidences: list = field(default_factory=list)  # best confidence per target (0 while empty)

    def row(self, thresholds=(0.99, 0.9999)) -> dict:
        # One sort gives every figure (np.median and friends cost more than that per generation).
        c = np.sort(np.asarray(self.confidences, dtype=np.float64))
        n = len(c)
        median = c[n // 2] if n % 2 else (c[n // 2 - 1] + c[n // 2]) / 2
        row = {"generation": self.generation, "evaluations": self.evaluations, "queries": self.queries,
               "best": float(c[-1]), "median": float(median), "min": float(c[0])}
        for t in thresholds:
            row[f"reached_{t:g}"] = int(n - np.searchsorted(c, t, side="left"))
        return row


def population_size(encoding: Encoding, population: Any) -> int:
    """How many genomes a population holds (arrays and lists without unstacking their copies)."""
    if isinstance(population, (np.ndarray, list)):
        return len(population)
    return len(encoding.unstack(population))


def score_arrays(scores, count: int, targets: int) -> tuple[np.ndarray, np.ndarray]:
    """(fitness, confidence) as float64 arrays shaped (count, targets) from Scores-like input.

    Accepts evodream's Scores, or anything with ``fitness`` and ``confidence`` (torch tensors or
    arrays), or a (fitness, confidence) pair: what a user's own scoring function may return.
    """
    if isinstance(scores, tuple):
        fitness, confidence = scores
    else:
        fitness, confidence = scores.fitness, scores.confidence
    arrays = []
    for name, value in (("fitness", fitness), ("confidence", confidence)):
        if hasattr(value, "detach"):  # a torch tensor
            on_cpu = value.device.type == "cpu" and not value.requires_grad
            value = value.numpy() if on_cpu else value.detach().cpu().numpy()
        value = np.asarray(value, dtype=np.float64)
        if value.shape != (count, targets):
            raise ValueError(f"tell(): {name} must be shaped (population, targets) = ({count}, {targets}), "
                             f"got {value.shape}")
        arrays.append(value)
    return arrays[0], arrays[1]


class Search(ABC):
    """Ask/tell over genomes of one encoding, for a list of target classes.

    Subclasses implement ask, tell, elites and their state; ``generation`` and ``evaluations``
    count completed tells and the genomes they scored.
    """

    #: what the evaluator must add to Scores for this search (e.g. "naturalness" for NSGA-II)
    needs: tuple[str, ...] = ()

    def __init__(self, encoding: Encoding, targets: Sequence[int], rng: np.random.Generator):
        self.encoding = encoding
        self.targets = [int(t) for t in targets]
        self.rng = rng
        self.generation = 0
        self.evaluations = 0

    @abstractmethod
    def ask(self) -> Any:
        """The next population to score (the encoding's population type)."""

    @abstractmethod
    def tell(self, population: Any, scores) -> Record:
        """Take the scores of a population ask() returned; returns the generation's record."""

    @abstractmethod
    def elites(self) -> list[Elite]:
        """The best genome found so far per target (targets with none yet are left out)."""

    @abstractmethod
    def state_dict(self, defer: bool = False) -> dict:
        """Everything a resume needs, JSON-ready. With defer, genomes may be left as functions that
        build their JSON, for write_json to call one at a time (big archives)."""

    @abstractmethod
    def load_state_dict(self, state: dict) -> None:
        """Restore a state_dict; raises statecheck.BadState naming the first unusable field."""

    def pending(self) -> list:
        """Populations asked for but not yet told (after a resume: what to score first)."""
        return []

    def pareto_front(self) -> list[tuple[int, list]]:
        """Multi-objective searches: (class index, non-dominated individuals) per target."""
        return []

    def step(self, evaluate) -> Record:
        """One generation with ``evaluate(population) -> Scores``: ask, evaluate, tell."""
        population = self.ask()
        return self.tell(population, evaluate(population))

    def close(self) -> None:
        """Release threads or workers the search holds (none by default)."""


def rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def restore_rng(state: dict) -> np.random.Generator:
    kind = getattr(np.random, str(state["bit_generator"]), None)
    # The name comes from a file: only a numpy bit generator class may be built from it.
    if not (isinstance(kind, type) and issubclass(kind, np.random.BitGenerator)):
        raise ValueError(f"unknown bit generator {state['bit_generator']!r:.40}")
    bit_generator = kind()
    bit_generator.state = state
    return np.random.Generator(bit_generator)


def python_random_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def restore_python_random(state: list) -> None:
    version, internal, gauss = state
    random.setstate((version, tuple(internal), gauss))
