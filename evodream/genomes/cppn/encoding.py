"""CPPNEncoding: the CPPN genome (network) behind the Encoding interface the searches use.

It checks its settings, then hands each job to its module: the initial population to
network.minimal, mutation to mutation.mutate, crossover (--crossover-rate) to
crossover.superimpose, images to render.render and genome files to serialise. Initial
population: no hidden nodes; all four inputs connected to every output, weights uniform in
[-init_weight, init_weight] (default 3). Drawing them from the paper's full range [-10, 10]
gives mostly hard-edged first images (at 64x64: 70% of pixels saturated to black or white, 24%
of images flat); +-3 gives smoother gradients, blobs and bands (42%, 16%), and +-1 mostly gentle
ramps. Weights may later wander over [-weight_range, weight_range] (default 10, the paper's
range). With halve_every (--halve-every) the weight mutation's eta doubles every that many
generations, for finer steps as the archive matures.
"""
from __future__ import annotations

import math
from dataclasses import fields
from typing import Sequence

import numpy as np
import torch

from ...errors import EvodreamError
from ..base import Encoding
from . import mutation, render, serialise
from .activations import ACTIVATIONS
from .crossover import MATE_WEIGHT, superimpose
from .network import CPPN, INPUTS, N_IN, minimal


class CPPNEncoding(Encoding):
    """Genomes are CPPN graphs mapping pixel coordinates to colour (resolution independent)."""
    name = serialise.ENCODING

    def __init__(self, channels: int, size: int, *, colour: str = "hls", add_connection: float = 0.5,
                 delete_connection: float = 0.3, add_node: float = 0.5, delete_node: float = 0.2,
                 change_activation: float = 0.1, weight_rate: float = 0.1, eta: float = 15.0,
                 weight_range: float = 10.0, max_nodes: int = 200, max_connections: int = 1000,
                 init_weight: float = 3.0, halve_every: int = 0):
        super().__init__(channels, size)
        if channels not in (1, 3):
            raise EvodreamError(f"the cppn encoding makes 1- or 3-channel images, not {channels}; "
                                "use a grey or RGB classifier")
        if colour not in render.COLOURS:
            raise EvodreamError(f"unknown cppn colour mode {colour!r}; "
                                f"use one of {', '.join(render.COLOURS)}")
        probabilities = {"add_connection": add_connection, "delete_connection": delete_connection,
                         "add_node": add_node, "delete_node": delete_node,
                         "change_activation": change_activation, "weight_rate": weight_rate}
        for key, value in probabilities.items():
            if not 0.0 <= float(value) <= 1.0:
                raise EvodreamError(f"cppn {key} is {value}; a probability must be between 0 and 1")
        if not (weight_range > 0 and math.isfinite(weight_range)):
            raise EvodreamError(f"cppn weight_range is {weight_range}; use a positive number such as 10")
        if not 0 < init_weight <= weight_range:
            raise EvodreamError(f"cppn init_weight is {init_weight}; use a number in (0, weight_range]")
        if not eta > 0:
            raise EvodreamError(f"cppn eta is {eta}; use a positive number such as 15")
        if halve_every < 0:
            raise EvodreamError(f"cppn halve_every is {halve_every}; use 0 (never) or a number of "
                                "generations")
        if max_nodes < N_IN + channels:
            raise EvodreamError(f"cppn max_nodes is {max_nodes}; it must be at least {N_IN + channels} "
                                "(inputs and outputs)")
        if max_connections < 1:
            raise EvodreamError(f"cppn max_connections is {max_connections}; use at least 1")
        self.colour = colour
        self.add_connection = float(add_connection)
        self.delete_connection = float(delete_connection)
        self.add_node = float(add_node)
        self.delete_node = float(delete_node)
        self.change_activation = float(change_activation)
        self.weight_rate = float(weight_rate)
        self.eta = float(eta)
        self.weight_range = float(weight_range)
        self.init_weight = float(init_weight)
        self.max_nodes = int(max_nodes)
        self.max_connections = int(max_connections)
        self.halve_every = int(halve_every)

    def settings(self) -> dict:
        return {**super().settings(), "colour": self.colour, "inputs": list(INPUTS),
                "activations": list(ACTIVATIONS), "add_connection": self.add_connection,
                "delete_connection": self.delete_connection, "add_node": self.add_node,
                "delete_node": self.delete_node, "change_activation": self.change_activation,
                "weight_rate": self.weight_rate, "eta": self.eta, "weight_range": self.weight_range,
                "init_weight": self.init_weight, "max_nodes": self.max_nodes,
                "max_connections": self.max_connections, "halve_every": self.halve_every}

    def eta_at(self, generation: int) -> float:
        """The weight mutation's eta for a generation's children: it doubles every halve_every
        generations, which about halves the weight steps (they scale as 1 / (eta + 1))."""
        if self.halve_every:
            # After 20 doublings the steps are a millionth of today's; capped so eta stays finite.
            return self.eta * 2.0 ** min(generation // self.halve_every, 20)
        return self.eta

    # -- population ---------------------------------------------------------------------------

    def random(self, n: int, rng: np.random.Generator) -> list[CPPN]:
        return minimal(n, self.channels, rng, self.init_weight)

    def stack(self, genomes: Sequence[CPPN]) -> list[CPPN]:
        return list(genomes)

    def unstack(self, population: Sequence[CPPN]) -> list[CPPN]:
        return list(population)

    def mutate(self, population: Sequence[CPPN], rng: np.random.Generator, generation: int = 0,
               strength: np.ndarray | None = None) -> list[CPPN]:
        """Mutated copies. `strength` (one positive number per genome, 1 = as configured) scales
        every operator probability and the weight rate of that genome's child, capped at 1."""
        # Built from the attributes on each call (a few microseconds), so they stay the one truth.
        settings = mutation.MutationSettings(**{f.name: getattr(self, f.name)
                                                for f in fields(mutation.MutationSettings)
                                                if f.name != "eta"}, eta=self.eta_at(generation))
        return mutation.mutate(population, rng, settings, strength)

    def crossover(self, first: Sequence[CPPN], second: Sequence[CPPN],
                  rng: np.random.Generator) -> list[CPPN]:
        """Each first[i] with second[i]'s pattern laid over its own (crossover.superimpose); the
        pairing is the caller's, so nothing is drawn from rng."""
        return [superimpose(a, b, mate_weight=MATE_WEIGHT, weight_range=self.weight_range,
                            max_nodes=self.max_nodes, max_connections=self.max_connections)
                for a, b in zip(first, second)]

    # -- continuous parameters (the cma emitter): the weights at fixed topology ------------------

    def vector(self, genome: CPPN) -> np.ndarray:
        return genome.weight.astype(np.float64)

    def with_vector(self, genome: CPPN, x: np.ndarray) -> CPPN:
        weight = np.clip(x, -self.weight_range, self.weight_range).astype(np.float32)
        # Same graph, new weights: the topology (and its cached depths) is shared, never changed.
        return CPPN(genome.acts, genome.n_outputs, genome.src, genome.dst, weight, genome._depth)

    # -- rendering ----------------------------------------------------------------------------

    def grid(self, size: int) -> torch.Tensor:
        """The inputs (x, y, d, bias) at every pixel centre, shaped (4, size*size); cached per size."""
        return render.grid(size)

    def render(self, population: Sequence[CPPN], size: int | None = None) -> torch.Tensor:
        size = self.size if size is None else int(size)
        if size < 1:
            raise EvodreamError(f"cannot render a CPPN at size {size}; use a positive image size")
        return render.render(population, self.channels, self.colour, size)

    # -- files --------------------------------------------------------------------------------

    def to_json(self, genome: CPPN) -> dict:
        return serialise.to_json(genome)

    def from_json(self, data: dict) -> CPPN:
        """Check an untrusted dict thoroughly and build its genome (hidden nodes re-sorted if needed)."""
        return serialise.from_json(data, self.channels, self.weight_range)
