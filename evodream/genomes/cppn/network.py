"""The CPPN genome: a small feed-forward graph kept in a topological order, and its topology helpers.

Inputs (node ids 0-3): x and y, the pixel centre in [-1, 1] (x to the right, y downward);
d = sqrt(x^2 + y^2), the plain Euclidean distance from the centre (1 at the middle of each edge,
sqrt(2) ~ 1.41 in the corners; not normalised); and a bias fixed at 1. Hidden and output nodes
compute activation(sum of weight * source value).

Nodes are kept in a topological order: the 4 inputs, then the hidden nodes, then the outputs.
Positions are the node ids: 0-3 inputs, 4 .. 4+H-1 hidden, then the outputs in channel order.
Connections are three parallel arrays (src, dst, weight) with src < dst always, which keeps the
graph acyclic by construction. Genomes are never changed in place: mutation returns new ones.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from .activations import OUTPUT_ACTIVATIONS

INPUTS = ("x", "y", "d", "bias")
N_IN = len(INPUTS)


@dataclass(eq=False)
class CPPN:
    """One network. Node positions: 0-3 inputs, then hidden nodes, then outputs (a topological order).

    acts holds the activation code (index into ACTIVATIONS) of every non-input node, hidden first;
    src/dst/weight are the connections, with src < dst. Treat instances as immutable.
    """
    acts: np.ndarray      # int8, one per hidden and output node
    n_outputs: int
    src: np.ndarray       # int32 node positions
    dst: np.ndarray       # int32 node positions
    weight: np.ndarray    # float32
    _depth: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def n_nodes(self) -> int:
        return N_IN + len(self.acts)

    @property
    def n_hidden(self) -> int:
        return len(self.acts) - self.n_outputs

    @property
    def n_connections(self) -> int:
        return len(self.src)

    def depth(self) -> np.ndarray:
        """Longest path from the inputs to every non-input node (1 = fed by inputs only or nothing)."""
        if self._depth is None:
            depth = np.ones(self.n_nodes, dtype=np.int64)
            depth[:N_IN] = 0
            order = np.argsort(self.dst, kind="stable")
            # Sorted by destination, every source's own inputs come earlier (src < dst).
            for s, d in zip(self.src[order].tolist(), self.dst[order].tolist()):
                if depth[s] + 1 > depth[d]:
                    depth[d] = depth[s] + 1
            depth = depth[N_IN:]
            self._depth = depth
        return self._depth


def minimal(n: int, channels: int, rng: np.random.Generator, init_weight: float) -> list[CPPN]:
    """n genomes with no hidden nodes: every input feeds every output, weights uniform in
    [-init_weight, init_weight], output activations drawn from OUTPUT_ACTIVATIONS."""
    src = np.repeat(np.arange(N_IN, dtype=np.int32), channels)
    dst = np.tile(np.arange(N_IN, N_IN + channels, dtype=np.int32), N_IN)
    population = []
    for _ in range(n):
        acts = rng.integers(len(OUTPUT_ACTIVATIONS), size=channels).astype(np.int8)
        weight = rng.uniform(-init_weight, init_weight, size=len(src)).astype(np.float32)
        population.append(CPPN(acts, channels, src.copy(), dst.copy(), weight))
    return population


def topological_positions(n: int, out_start: int, src: list, dst: list) -> np.ndarray | None:
    """New position of every node (inputs, hidden nodes in a topological order, outputs), or None
    when the hidden nodes' connections form a cycle.

    Nodes 0 .. n-1 are given in any order except that inputs come first and outputs (from
    out_start on) last. Kahn's algorithm, taking the lowest ready node first, keeps an order that
    is already topological unchanged, so a genome file written by to_json loads back exactly.
    """
    position = np.arange(n, dtype=np.int64)
    hidden_edges: dict[int, list[int]] = {}
    indegree = [0] * n
    for s, d in zip(src, dst):
        if s >= N_IN and d < out_start:  # hidden -> hidden: the only edges that constrain order
            hidden_edges.setdefault(s, []).append(d)
            indegree[d] += 1
    ready = [i for i in range(N_IN, out_start) if indegree[i] == 0]
    heapq.heapify(ready)
    placed = N_IN
    while ready:
        node = heapq.heappop(ready)
        position[node] = placed
        placed += 1
        for d in hidden_edges.get(node, ()):
            indegree[d] -= 1
            if indegree[d] == 0:
                heapq.heappush(ready, d)
    return position if placed == out_start else None
