"""What every genome encoding offers the searches.

An encoding works on a whole *population* at once (the searches never loop over genes). A
population's type is the encoding's own (an array for `direct`, a list of graphs for `cppn`);
searches move genomes between populations and archives only through these methods.
"""
from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

if TYPE_CHECKING:  # annotations only: the base class itself needs no torch
    import torch


class Encoding(ABC):
    name: str = ""

    def __init__(self, channels: int, size: int):
        self.channels = channels  # 1 (grey) or 3 (RGB) images come out of render()
        self.size = size          # default render size: the classifier's input size

    @abstractmethod
    def random(self, n: int, rng: np.random.Generator) -> Any:
        """A population of n random genomes."""

    @abstractmethod
    def mutate(self, population: Any, rng: np.random.Generator, generation: int = 0,
               strength: np.ndarray | None = None) -> Any:
        """New, mutated copies of every genome in the population (the input is left untouched).

        ``strength``, one positive number per genome, scales how much each is changed (1 = the
        encoding's configured rate); adaptive searches set it, encodings may ignore it.
        """

    def crossover(self, first: Any, second: Any, rng: np.random.Generator) -> Any:
        """Children of pairing first[i] with second[i]; encodings without crossover return first."""
        return first

    def cross_share(self, first: Any, second: Any, rate: float, rng: np.random.Generator) -> Any:
        """first, with each genome replaced at probability `rate` by its child with second's genome
        at the same index. All pairs are crossed in one call, as array genomes cross as one array op."""
        if rate <= 0:
            return first
        crossed = self.unstack(self.crossover(first, second, rng))
        use = rng.random(len(crossed)) < rate
        return self.stack([c if u else g for c, g, u in zip(crossed, self.unstack(first), use)])

    @abstractmethod
    def render(self, population: Any, size: int | None = None) -> torch.Tensor:
        """Images in [0,1], shaped (B, channels, size, size)."""

    def render_for_scoring(self, population: Any, size: int | None = None) -> torch.Tensor | np.ndarray:
        """The images render() gives, for the classifier: a float32 numpy array where an encoding
        has one at hand (Objective.score takes either, and small batches score faster without torch)."""
        return self.render(population, size)

    @abstractmethod
    def stack(self, genomes: Sequence[Any]) -> Any:
        """A population from single genomes."""

    @abstractmethod
    def unstack(self, population: Any) -> list:
        """The single genomes of a population."""

    @abstractmethod
    def to_json(self, genome: Any) -> dict:
        """A JSON-ready dict that from_json turns back into an identical genome."""

    @abstractmethod
    def from_json(self, data: dict) -> Any:
        """The genome a to_json dict describes; raises EvodreamError when the dict is invalid."""

    def settings(self) -> dict:
        """The parameters that define this encoding, for the run manifest."""
        return {"encoding": self.name, "channels": self.channels, "size": self.size}

    # Continuous parameters, for optimisers over real vectors (the ``cma`` emitter). Optional: an
    # encoding without them says so through has_vector().
    def vector(self, genome: Any) -> np.ndarray:
        """The genome's real-valued parameters as a 1-D float64 array (a CPPN: its weights)."""
        raise NotImplementedError(f"the {self.name} encoding has no parameter vector")

    def with_vector(self, genome: Any, x: np.ndarray) -> Any:
        """A new genome like ``genome`` (same structure) with parameters ``x``, kept in their bounds."""
        raise NotImplementedError(f"the {self.name} encoding has no parameter vector")

    def has_vector(self) -> bool:
        return type(self).vector is not Encoding.vector

    def take(self, population: Any, index: int) -> Any:
        """One genome of a population, independent of it (an archive keeps it after the batch goes)."""
        return self.unstack(population)[index]


def array_to_json(encoding: str, key: str, genome: np.ndarray) -> dict:
    """A float32 genome as JSON: raw bytes in base64 under `key` (an exact round trip, a third of
    the size of decimal text)."""
    data = np.ascontiguousarray(genome, dtype="<f4")
    return {"encoding": encoding, "shape": list(data.shape),
            key: base64.b64encode(data.tobytes()).decode("ascii")}


def array_from_json(encoding: str, key: str, data: Any, shape: tuple, shape_note: str = "") -> np.ndarray:
    """The float32 genome array_to_json wrote, checked for encoding, shape and size; ValueError
    (or KeyError, TypeError) naming the first problem."""
    if data.get("encoding") != encoding:
        raise ValueError(f"encoding is {data.get('encoding')!r:.40}, expected {encoding!r}")
    got = tuple(int(s) for s in data["shape"])
    if got != shape:
        raise ValueError(f"shape {got} does not match {shape}{shape_note}")
    text = data[key]
    if not isinstance(text, str) or len(text) > 4 * int(np.prod(shape)) * 2:
        raise ValueError(f"{key} must be a base64 string of the genome's float32 bytes")
    return np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4").reshape(shape).astype(np.float32)
