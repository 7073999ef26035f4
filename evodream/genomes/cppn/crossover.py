"""CPPN crossover: a child lays its mate's pattern over its own.

The mate's hidden nodes join the child's network, and the mate's connections into its outputs feed
the child's outputs of the same channel with their weights times ``mate_weight``. Before the output
activations the child so computes z_child + mate_weight * z_mate: one picture's texture over the
other's layout, which for a classifier that reads textures mixes two classes' evidence. A
connection both networks have (an input straight to an output) becomes one, with the summed weight.
A pair whose union would pass max_nodes or max_connections leaves the child as it was.
"""
from __future__ import annotations

import numpy as np

from .network import CPPN, N_IN

# 0.25 and 1 did no better on ImageNet (docs/imagenet-efficiency.md); 0 leaves the picture alone.
MATE_WEIGHT = 0.5


def superimpose(child: CPPN, mate: CPPN, *, mate_weight: float, weight_range: float, max_nodes: int,
                max_connections: int) -> CPPN:
    """`child` with `mate`'s pattern added to its outputs' sums (see the module docstring)."""
    hidden, mate_hidden = child.n_hidden, mate.n_hidden
    nodes = N_IN + len(child.acts) + mate_hidden
    if (child.n_outputs != mate.n_outputs or nodes > max_nodes
            or child.n_connections + mate.n_connections > max_connections):
        return child
    # Positions: inputs, the child's hidden nodes, the mate's, then the outputs (shared by channel).
    own_src = np.where(child.src >= N_IN + hidden, child.src + mate_hidden, child.src)
    own_dst = np.where(child.dst >= N_IN + hidden, child.dst + mate_hidden, child.dst)
    mate_src = np.where(mate.src >= N_IN, mate.src + hidden, mate.src)
    mate_dst = np.where(mate.dst >= N_IN, mate.dst + hidden, mate.dst)
    into_outputs = mate.dst >= N_IN + mate_hidden
    mate_weights = np.where(into_outputs, mate.weight * np.float32(mate_weight), mate.weight)
    src = np.concatenate([own_src, mate_src]).astype(np.int64)
    dst = np.concatenate([own_dst, mate_dst]).astype(np.int64)
    weight = np.concatenate([child.weight, mate_weights]).astype(np.float64)
    keys, first, slot = np.unique(src * nodes + dst, return_index=True, return_inverse=True)
    summed = np.zeros(len(keys))
    np.add.at(summed, slot, weight)
    order = np.argsort(first)  # the child's connections first, in their order, then the mate's new ones
    acts = np.concatenate([child.acts[:hidden], mate.acts[:mate_hidden], child.acts[hidden:]])
    return CPPN(acts.astype(np.int8), child.n_outputs, (keys[order] // nodes).astype(np.int32),
                (keys[order] % nodes).astype(np.int32),
                np.clip(summed[order], -weight_range, weight_range).astype(np.float32))
