"""The straightforward per-genome renderer, kept as the definition large.render_each is tested
and benchmarked against (it was render.render_each until the faster one replaced it).

Node by node: one multiply-add per connection, the activation as written in activations.py,
then render.finish_ ((v + 1) / 2, clamped, and images.hls_to_rgb_ / hsv_to_rgb_).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from .activations import IN_PLACE
from .network import CPPN, N_IN


@torch.no_grad()
def render(population: Sequence[CPPN], channels: int, colour: str, size: int) -> torch.Tensor:
    """Images in [0, 1] shaped (len(population), channels, size, size), genome by genome."""
    out = torch.empty(len(population), channels, size * size, dtype=torch.float32)
    if len(population):
        render_each(population, out, colour)
    return out.view(len(population), channels, size, size)


def render_each(population: Sequence[CPPN], out: torch.Tensor, colour: str) -> None:
    """Finished images (B, channels, P) of several genomes, evaluated one genome at a time."""
    from .render import finish_, grid  # render imports this module's neighbours; import late
    inputs = grid(int(math.isqrt(out.shape[-1])))
    values = torch.empty(max(g.n_nodes for g in population), inputs.shape[1], dtype=torch.float32)
    values[:N_IN] = inputs
    value_rows = values.unbind(0)  # views, cheaper to reuse than indexing per op
    for i, g in enumerate(population):
        # Inputs and hidden nodes in the scratch table, outputs straight into the image.
        rows = value_rows[:g.n_nodes - g.n_outputs] + out[i].unbind(0)
        order = np.argsort(g.dst, kind="stable")
        src, dst, weight = g.src[order].tolist(), g.dst[order].tolist(), g.weight[order].tolist()
        e, edges = 0, len(src)
        for j, act in enumerate(g.acts.tolist(), start=N_IN):
            target = rows[j]
            if e < edges and dst[e] == j:
                torch.mul(rows[src[e]], weight[e], out=target)
                e += 1
                while e < edges and dst[e] == j:
                    target.add_(rows[src[e]], alpha=weight[e])
                    e += 1
            else:
                target.zero_()
            IN_PLACE[act](target)
        finish_(out[i], colour)
