"""Direct encoding: one gene per pixel and channel, in [0, 1].

Mutation is polynomial bounded mutation (Deb & Agrawal; eta 15 and per-gene rate 0.1 in the
paper), applied to the whole population with array operations.
"""
from __future__ import annotations

import mmap
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import EvodreamError
from .base import Encoding, array_from_json, array_to_json


def polynomial_mutation(x: np.ndarray, rng: np.random.Generator, rate, eta: float) -> np.ndarray:
    """Bounded polynomial mutation in [0,1] of every gene with probability `rate`; returns a copy.

    `rate` may be a scalar or an array broadcastable to x (one rate per genome, for adaptive schemes).
    Only the chosen genes (a tenth, at the paper's rate) go through the arithmetic.
    """
    chosen = np.flatnonzero(rng.random(x.shape, dtype=np.float32) < rate)
    out = np.array(x, dtype=np.float32, copy=True)
    flat = out.reshape(-1)
    genes = flat[chosen]
    u = rng.random(len(chosen), dtype=np.float32)
    power = 1.0 / (eta + 1.0)
    # Deb's formula, with the distance to each bound so steps never leave [0, 1].
    below = (2 * u + (1 - 2 * u) * (1 - genes) ** (eta + 1)) ** power - 1
    above = 1 - (2 * (1 - u) + 2 * (u - 0.5) * genes ** (eta + 1)) ** power
    flat[chosen] = np.clip(genes + np.where(u < 0.5, below, above), 0.0, 1.0)
    return out


def sbx_crossover(a: np.ndarray, b: np.ndarray, rng: np.random.Generator, eta: float = 15.0) -> np.ndarray:
    """Simulated binary crossover, gene by gene (one child per pair), kept in [0, 1]."""
    u = rng.random(a.shape, dtype=np.float32)
    beta = np.where(u <= 0.5, (2 * u) ** (1 / (eta + 1)), (1 / (2 * (1 - u))) ** (1 / (eta + 1)))
    pick_first = rng.random(a.shape[:1] + (1,) * (a.ndim - 1)) < 0.5
    child = np.where(pick_first, 0.5 * ((1 + beta) * a + (1 - beta) * b),
                     0.5 * ((1 - beta) * a + (1 + beta) * b))
    return np.clip(child, 0.0, 1.0).astype(np.float32)


OWN_MAPPING_BYTES = 128 * 1024  # glibc's own default mmap threshold: smaller genomes stay in the heap


def _independent_copy(genome: np.ndarray) -> np.ndarray:
    """A copy; a big one in its own anonymous memory mapping, unmapped when the array is freed.

    Archive genomes live long and die in random order. Big ones kept out of the malloc heap
    (which classifiers keep large on purpose, see classifiers/allocator.py) cannot pin holes
    between its big per-generation buffers, and each one's memory goes back to the OS with it.
    """
    if genome.nbytes < OWN_MAPPING_BYTES:
        return genome.copy()
    copy = np.frombuffer(mmap.mmap(-1, genome.nbytes), dtype=genome.dtype, count=genome.size)
    copy = copy.reshape(genome.shape)
    copy[...] = genome
    return copy


class DirectEncoding(Encoding):
    name = "direct"

    def __init__(self, channels: int, size: int, *, mutation_rate: float = 0.1, eta: float = 15.0,
                 halve_every: int = 0, crossover_rate: float = 0.0):
        super().__init__(channels, size)
        self.mutation_rate = mutation_rate
        self.eta = eta
        self.halve_every = halve_every  # the paper halves the rate every 1,000 generations; 0 = never
        self.crossover_rate = crossover_rate

    def settings(self) -> dict:
        return {**super().settings(), "mutation_rate": self.mutation_rate, "eta": self.eta,
                "halve_every": self.halve_every, "crossover_rate": self.crossover_rate}

    def rate_at(self, generation: int) -> float:
        if self.halve_every:
            return self.mutation_rate * 0.5 ** (generation // self.halve_every)
        return self.mutation_rate

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.random((n, self.channels, self.size, self.size), dtype=np.float32)

    def mutate(self, population: np.ndarray, rng: np.random.Generator, generation: int = 0,
               strength: np.ndarray | None = None) -> np.ndarray:
        rate = self.rate_at(generation)
        if strength is not None:
            rate = np.minimum(rate * np.asarray(strength, dtype=np.float32), 1.0).reshape(-1, 1, 1, 1)
        return polynomial_mutation(population, rng, rate, self.eta)

    def crossover(self, first: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return sbx_crossover(first, second, rng, self.eta)

    def render(self, population: np.ndarray, size: int | None = None) -> torch.Tensor:
        images = torch.from_numpy(np.ascontiguousarray(population))
        if size is not None and size != images.shape[-1]:
            # Pixels are the genome: enlarge them as blocks rather than inventing detail.
            images = F.interpolate(images, size=(size, size), mode="nearest")
        return images

    def render_for_scoring(self, population: np.ndarray,
                           size: int | None = None) -> torch.Tensor | np.ndarray:
        if size is None or size == population.shape[-1]:
            return np.ascontiguousarray(population, dtype=np.float32)  # the pixels themselves
        return self.render(population, size)

    def stack(self, genomes: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack(genomes).astype(np.float32, copy=False)

    def unstack(self, population: np.ndarray) -> list:
        # Copies, not views: a view keeps its whole batch alive for as long as any one genome of
        # it survives in an archive, which grew a 1,000-class ImageNet run past 5 GB.
        return [_independent_copy(genome) for genome in population]

    def take(self, population: np.ndarray, index: int) -> np.ndarray:
        return _independent_copy(population[index])

    def vector(self, genome: np.ndarray) -> np.ndarray:
        return np.asarray(genome, dtype=np.float64).ravel()

    def with_vector(self, genome: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.clip(x, 0.0, 1.0).astype(np.float32).reshape(genome.shape)

    def to_json(self, genome: np.ndarray) -> dict:
        return array_to_json(self.name, "pixels_f32_base64", genome)

    def from_json(self, data: dict) -> np.ndarray:
        if not isinstance(data, dict):
            raise EvodreamError(f"invalid direct genome: expected a JSON object, got {type(data).__name__}")
        try:
            genome = array_from_json(self.name, "pixels_f32_base64", data,
                                     (self.channels, self.size, self.size))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise EvodreamError(f"invalid direct genome: {exc}; re-export it with evodream") from None
        if not np.isfinite(genome).all() or genome.min() < 0 or genome.max() > 1:
            raise EvodreamError("invalid direct genome: pixels must be finite and in [0, 1]")
        return genome
