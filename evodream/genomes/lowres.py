"""Low-resolution encoding: a G x G grid of unbounded genes per channel, upsampled and squashed.

A 64 x 64 x 3 genome has 12,288 genes where a direct 224 px genome has 150,528: few enough for a
step-size-adapting optimiser (the ``cma`` emitter, diagonal at this size) to learn which genes
raise a class. Grids of 8 to 128 cells a side were measured on EfficientNet-Lite0 classes outside
the README's benchmark: 64 fooled the hard ones soonest (docs/imagenet-efficiency.md).
Rendering enlarges the grid bicubically to the image size and squashes it through a sigmoid, so
every gene is unbounded (no clipping to fight) and the picture is smooth by construction.
Mutation (for the ``mutation`` emitter) is Gaussian: each gene, with probability ``rate``, moves by
N(0, sigma * strength), the whole population in one array operation.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import EvodreamError
from .base import Encoding, array_from_json, array_to_json

DEFAULT_GRID = 64       # cells a side when the run does not say ...
SMALL_IMAGE_GRID = 16   # ... for images under 64 px (MNIST: CMA-ES needed twice the evaluations at 28)


def default_grid(size: int) -> int:
    """Cells a side of a lowres genome for images of this size, where the run does not say."""
    return DEFAULT_GRID if size >= 64 else min(SMALL_IMAGE_GRID, size)


MAX_GENE = 1e4  # |gene| beyond this is saturated anyway; a file with more was not made by evodream


class LowresEncoding(Encoding):
    """Genomes are float32 arrays (channels, grid, grid); images are sigmoid(bicubic(genome))."""

    name = "lowres"

    def __init__(self, channels: int, size: int, *, grid: int | None = None, rate: float = 0.2,
                 sigma: float = 0.5, init_std: float = 1.0):
        super().__init__(channels, size)
        if grid is None:
            grid = default_grid(size)
        if not 2 <= int(grid) <= 1024:
            raise EvodreamError(f"lowres grid is {grid}; use 2 to 1024 cells a side "
                                f"({DEFAULT_GRID} is the default)")
        if not 0 < rate <= 1:
            raise EvodreamError(f"lowres mutation rate is {rate}; use a number in (0, 1]")
        if not sigma > 0 or not init_std > 0:
            raise EvodreamError("lowres sigma and init_std must be positive")
        self.grid = int(grid)
        self.rate = float(rate)
        self.sigma = float(sigma)
        self.init_std = float(init_std)

    def settings(self) -> dict:
        return {**super().settings(), "grid": self.grid, "rate": self.rate, "sigma": self.sigma,
                "init_std": self.init_std}

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.grid, self.grid)

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return (rng.standard_normal((n, *self.shape), dtype=np.float32) * self.init_std).astype(np.float32)

    def mutate(self, population: np.ndarray, rng: np.random.Generator, generation: int = 0,
               strength: np.ndarray | None = None) -> np.ndarray:
        population = np.asarray(population, dtype=np.float32)
        scale = np.full(len(population), self.sigma, dtype=np.float32)
        if strength is not None:
            scale = scale * np.asarray(strength, dtype=np.float32)
        steps = rng.standard_normal(population.shape, dtype=np.float32) * scale.reshape(-1, 1, 1, 1)
        if self.rate < 1:
            steps *= rng.random(population.shape, dtype=np.float32) < self.rate
        return population + steps

    def crossover(self, first: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Uniform crossover, gene by gene."""
        return np.where(rng.random(first.shape) < 0.5, first, second).astype(np.float32)

    def grid_values(self, genes: torch.Tensor) -> torch.Tensor:
        """The (n, channels, grid, grid) values the genes stand for: here the genes themselves."""
        return genes

    def field(self, population: np.ndarray, size: int | None = None) -> torch.Tensor:
        """The (n, channels, size, size) values before the sigmoid: the grid enlarged bicubically."""
        size = self.size if size is None else int(size)
        genes = self.grid_values(torch.from_numpy(np.ascontiguousarray(population, dtype=np.float32)))
        if size != self.grid:
            genes = F.interpolate(genes, size=(size, size), mode="bicubic", align_corners=False)
        return genes

    def render(self, population: np.ndarray, size: int | None = None) -> torch.Tensor:
        return torch.sigmoid(self.field(population, size))

    def stack(self, genomes: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack(genomes).astype(np.float32, copy=False)

    def unstack(self, population: np.ndarray) -> list:
        return [genome.copy() for genome in population]  # copies: an archive must not pin the batch

    def take(self, population: np.ndarray, index: int) -> np.ndarray:
        return population[index].copy()

    # -- continuous parameters (the cma emitter) ------------------------------------------------
    def vector(self, genome: np.ndarray) -> np.ndarray:
        return np.asarray(genome, dtype=np.float64).ravel()

    def with_vector(self, genome: np.ndarray, x: np.ndarray) -> np.ndarray:
        x = np.clip(np.asarray(x, dtype=np.float64), -MAX_GENE, MAX_GENE)
        return x.astype(np.float32).reshape(self.shape)

    # -- files ----------------------------------------------------------------------------------
    def to_json(self, genome: np.ndarray) -> dict:
        return array_to_json(self.name, "genes_f32_base64", genome)

    def from_json(self, data: dict) -> np.ndarray:
        if not isinstance(data, dict):
            raise EvodreamError(f"invalid {self.name} genome: expected a JSON object, "
                                f"got {type(data).__name__}")
        try:
            genome = array_from_json(self.name, "genes_f32_base64", data, self.shape,
                                     " (channels, grid, grid)")
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise EvodreamError(f"invalid {self.name} genome: {exc}; re-export it with evodream") from None
        if not np.isfinite(genome).all() or np.abs(genome).max() > MAX_GENE:
            raise EvodreamError(f"invalid {self.name} genome: genes must be finite and within +-{MAX_GENE:g}")
        return genome
