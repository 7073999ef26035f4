"""Spectral encoding: the lowres grid's genes are cosine (DCT) coefficients weighted by 1/frequency.

The same genome as ``lowres`` (a G x G grid of unbounded genes per channel), read in another
basis: gene (u, v) of a channel is the weight of the 2-D cosine of frequency (u, v), scaled by
1 / max(1, sqrt(u^2 + v^2)). The inverse DCT gives the lowres grid, which is upsampled and squashed
as in ``lowres``. Natural images have most of their energy at low frequencies; so does a random
step here, so CMA-ES and mutation change the picture's coarse layout first, as a coarse grid would,
while the fine genes are still there to learn detail (feature visualisation uses the same 1/f
weighting, e.g. Lucid's FFT image parameterisation). Scales are normalised so a genome of
unit-variance genes gives grid values of unit variance, like ``lowres``.
"""
from __future__ import annotations

import numpy as np
import torch

from .lowres import LowresEncoding


def dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix: row k is the k-th cosine over n samples."""
    k = np.arange(n)[:, None]
    matrix = np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    matrix[0] /= np.sqrt(2.0)
    return matrix


def frequency_scale(n: int) -> np.ndarray:
    """1 / frequency for each (u, v) coefficient, normalised to a mean square of 1."""
    u = np.arange(n)
    scale = 1.0 / np.maximum(1.0, np.hypot(u[:, None], u[None, :]))
    return scale / np.sqrt((scale ** 2).mean())


class SpectralEncoding(LowresEncoding):
    """Genomes are float32 arrays (channels, grid, grid) of 1/f-weighted DCT coefficients."""

    name = "spectral"

    def __init__(self, channels: int, size: int, **settings):
        super().__init__(channels, size, **settings)
        basis = torch.from_numpy(dct_matrix(self.grid).astype(np.float32))
        self._inverse = basis.T.contiguous()  # grid = basis^T @ coefficients @ basis
        self._basis = basis
        self._scale = torch.from_numpy(frequency_scale(self.grid).astype(np.float32))

    def grid_values(self, genes: torch.Tensor) -> torch.Tensor:
        """The inverse DCT of the 1/f-weighted coefficients (rendering upsamples and squashes it)."""
        return self._inverse @ (genes * self._scale) @ self._basis
