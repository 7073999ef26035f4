"""What the searches share: per-generation records and a JSON-safe RNG state."""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np


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
        c = np.asarray(self.confidences, dtype=np.float64)
        row = {"generation": self.generation, "evaluations": self.evaluations, "queries": self.queries,
               "best": float(c.max()), "median": float(np.median(c)), "min": float(c.min())}
        for t in thresholds:
            row[f"reached_{t:g}"] = int((c >= t).sum())
        return row


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
