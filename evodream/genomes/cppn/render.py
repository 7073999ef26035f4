"""CPPN rendering: every pixel of a population's images at once, with two renderers.

Pure torch on the CPU, float32, under no_grad, with the (x, y, d, bias) grid cached per size;
Python loops over genomes, nodes and edges but never over pixels. Below BATCH_MAX_PIXELS many
genomes are evaluated together (render_chunk: nodes sorted by depth and activation, one sparse
product per depth level, one op per activation block); from there up genome by genome, node by
node (large.render_each: constants and the activations' affine tails folded into the weights,
one pass per connection, hls converted from the signed outputs; see its docstring), outputs
written straight into the image. Both give the same values to float rounding; a genome renders
identically alone or in a population. reference.render_each is the plain per-genome renderer
large.render_each is checked against.

An output's value v in [-1, 1] becomes the channel value (v + 1) / 2 in [0, 1]. One output gives
a grey image; three give colour, read as H, L, S (colour "hls", as in the paper's code), H, S, V
("hsv") or R, G, B ("rgb") and converted with images.hls_to_rgb_ / hsv_to_rgb_.
"""
from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import Sequence

import numpy as np
import torch

from ...images import hls_to_rgb_, hsv_to_rgb_
from .activations import IN_PLACE
from .large import render_each
from .network import CPPN, N_IN

COLOURS = ("hls", "hsv", "rgb")
RENDER_CHUNK_FLOATS = 1 << 24  # node values held at once by the batched renderer (64 MiB of float32)
BATCH_MAX_PIXELS = 64 * 64     # images this big or bigger are rendered genome by genome
# (Both are read at call time: tests set them on this module to force one path.)


@lru_cache(maxsize=8)
def grid(size: int) -> torch.Tensor:
    """The inputs (x, y, d, bias) at every pixel centre, shaped (4, size*size); cached per size.

    Shared by every caller: read it, never write to it."""
    coords = (torch.arange(size, dtype=torch.float64) + 0.5) * (2.0 / size) - 1.0
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    d = torch.sqrt(x * x + y * y)
    return torch.stack([x, y, d, torch.ones_like(x)]).reshape(N_IN, -1).to(torch.float32)


@torch.no_grad()
def render(population: Sequence[CPPN], channels: int, colour: str, size: int) -> torch.Tensor:
    """Images in [0, 1] shaped (len(population), channels, size, size)."""
    pixels = size * size
    out = torch.empty(len(population), channels, pixels, dtype=torch.float32)
    if len(population) == 0:
        return out.view(0, channels, size, size)
    if pixels >= BATCH_MAX_PIXELS:
        # Big images: genome by genome, node by node, so each row of pixel values is still
        # in cache for its activation and the outputs for the colour conversion.
        render_each(population, out, colour, grid(size))
    else:
        # Small images: the per-op overhead dominates, so evaluate many genomes together.
        start = 0
        while start < len(population):
            stop, nodes = start + 1, N_IN + len(population[start].acts)
            while (stop < len(population)
                   and (nodes + len(population[stop].acts)) * pixels <= RENDER_CHUNK_FLOATS):
                nodes += len(population[stop].acts)
                stop += 1
            block = out[start:stop]
            render_chunk(population[start:stop], block)
            finish_(block, colour)
            start = stop
    return out.view(len(population), channels, size, size)


def finish_(block: torch.Tensor, colour: str) -> None:
    """Output node values (..., channels, P) in [-1, 1] -> image values in [0, 1], in place."""
    block.add_(1.0).mul_(0.5).clamp_(0.0, 1.0)
    if block.shape[-2] == 3 and colour != "rgb":
        (hls_to_rgb_ if colour == "hls" else hsv_to_rgb_)(block)


def render_chunk(genomes: Sequence[CPPN], out: torch.Tensor) -> None:
    """Output node values (B, channels, P) of several genomes, evaluated together level by level.

    All the chunk's non-input nodes share one value table, sorted by (depth, activation), so
    that each depth level is one sparse matrix product over the earlier rows and each
    activation one in-place op on a contiguous block.
    """
    inputs = grid(int(math.isqrt(out.shape[-1])))
    pixels = inputs.shape[1]
    # Concatenate the chunk's graphs; inputs are shared rows 0-3.
    depth = np.concatenate([g.depth() for g in genomes])
    acts = np.concatenate([g.acts for g in genomes]).astype(np.int64)
    offsets = np.cumsum([0] + [len(g.acts) for g in genomes])
    edge_offsets = np.repeat(offsets[:-1], [g.n_connections for g in genomes])
    src = np.concatenate([g.src for g in genomes]).astype(np.int64)
    src = np.where(src < N_IN, src, src + edge_offsets)
    dst = np.concatenate([g.dst for g in genomes]).astype(np.int64) - N_IN + edge_offsets
    weight = np.concatenate([g.weight for g in genomes])
    # New row of each node: sorted by (depth, activation), after the 4 input rows.
    order = np.lexsort((acts, depth))
    row = np.empty(len(order), dtype=np.int64)
    row[order] = np.arange(len(order)) + N_IN
    src = np.where(src < N_IN, src, row[np.maximum(src - N_IN, 0)])
    dst = row[dst]
    depth, acts = depth[order], acts[order]

    values = torch.empty(N_IN + len(order), pixels, dtype=torch.float32)
    values[:N_IN] = inputs
    level_starts = np.flatnonzero(np.diff(depth, prepend=-1)).tolist() + [len(order)]
    edge_order = np.lexsort((src, dst))
    src, dst, weight = src[edge_order], dst[edge_order], weight[edge_order]
    for a, b in zip(level_starts[:-1], level_starts[1:]):
        lo, hi = N_IN + a, N_IN + b
        e0, e1 = np.searchsorted(dst, [lo, hi])
        if e1 > e0:
            # (rows of this level) x (all earlier rows) sparse weights, times earlier values.
            crow = np.searchsorted(dst[e0:e1], np.arange(lo, hi + 1))
            with warnings.catch_warnings():  # "CSR support is in beta": fine for a product
                warnings.simplefilter("ignore", UserWarning)
                matrix = torch.sparse_csr_tensor(torch.from_numpy(crow.astype(np.int64)),
                                                 torch.from_numpy(src[e0:e1].astype(np.int64)),
                                                 torch.from_numpy(weight[e0:e1]), size=(hi - lo, lo),
                                                 check_invariants=False)
            torch.mm(matrix, values[:lo], out=values[lo:hi])
        else:
            values[lo:hi] = 0.0
        level_acts = acts[a:b]
        bounds = np.flatnonzero(np.diff(level_acts, prepend=-1)).tolist() + [len(level_acts)]
        for u, v in zip(bounds[:-1], bounds[1:]):
            IN_PLACE[level_acts[u]](values[lo + u:lo + v])
    out_rows = np.concatenate([row[o + len(g.acts) - g.n_outputs:o + len(g.acts)]
                               for g, o in zip(genomes, offsets)])
    out.copy_(values[torch.from_numpy(out_rows)].view(out.shape))
