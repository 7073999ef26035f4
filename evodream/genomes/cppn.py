"""CPPN encoding: NEAT-style feed-forward compositional pattern-producing networks.

A genome is a small acyclic graph that maps a pixel's coordinates to its colour; rendering
evaluates the graph on every pixel at once, so the picture is resolution independent (render at
1024 for print and you get the same image, sharper).

Network
  Inputs (node ids 0-3): x and y, the pixel centre in [-1, 1] (x to the right, y downward);
  d = sqrt(x^2 + y^2), the plain Euclidean distance from the centre (1 at the middle of each
  edge, sqrt(2) ~ 1.41 in the corners; not normalised); and a bias fixed at 1.
  Hidden and output nodes compute activation(sum of weight * source value) with one of
      sine      sin(z)
      sigmoid   2 / (1 + exp(-z)) - 1             (a sigmoid scaled to (-1, 1))
      gaussian  2 exp(-z^2) - 1                   (peak 1 at z = 0, -1 far away)
      linear    z clipped to [-1, 1]
      tanh      tanh(z)
      abs       |z| clipped to [0, 1]             (hidden nodes only)
  Every activation lands in [-1, 1]; an output's value v becomes the channel value (v + 1) / 2
  in [0, 1]. Output nodes use the first five (abs would only reach [0.5, 1]).
  One output gives a grey image; three give colour, read as H, L, S (colour="hls", as in the
  paper's code), H, S, V (colour="hsv") or R, G, B (colour="rgb") and converted with torch.

Genome (`CPPN`)
  Nodes are kept in a topological order: the 4 inputs, then the hidden nodes, then the
  outputs. Positions are the node ids: 0-3 inputs, 4 .. 4+H-1 hidden, then the outputs in
  channel order. Connections are three parallel arrays (src, dst, weight) with src < dst always,
  which keeps the graph acyclic by construction. Genomes are never changed in place: mutation
  returns new ones.

Rendering
  Pure torch on the CPU, float32, under no_grad, with the (x, y, d, bias) grid cached per size;
  Python loops over genomes, nodes and edges but never over pixels. Below 64x64 many genomes are
  evaluated together (nodes sorted by depth and activation: one sparse product per depth level,
  one op per activation block); from 64x64 up genome by genome, node by node (one multiply-add per
  connection, then the activation while the row is in cache), outputs written straight into the
  image. Both give the same values to float rounding; a genome renders identically alone or in
  a population.

Initial population
  No hidden nodes; all four inputs connected to every output, weights uniform in
  [-init_weight, init_weight] (default 3). Drawing them from the paper's full range [-10, 10]
  gives mostly hard-edged first images (at 64x64: 70% of pixels saturated to black or white,
  24% of images flat); +-3 gives smoother gradients, blobs and bands (42%, 16%), and +-1 mostly
  gentle ramps. Weights may later wander over [-weight_range, weight_range] (default 10, the
  paper's range).

Mutation (per child, each operator independently, paper's probabilities by default)
  add_connection 0.5    between two unconnected nodes, from an earlier node to a later one in
                        the topological order (never into an input, never out of an output);
                        new weight uniform in [-init_weight, init_weight]
  delete_connection 0.3 a random connection
  add_node 0.5          splits a random connection a->b (weight w) into a->new (weight 1) and
                        new->b (weight w); the new node has a random hidden activation
  delete_node 0.2       a random hidden node with all its connections
  change_activation 0.1 a random hidden or output node gets another activation
  then every weight, with probability weight_rate (default 0.1, the paper's per-gene rate for
  the direct encoding; about 2 weights per child at the start, more as networks grow), gets
  bounded polynomial mutation (eta 15, via direct.polynomial_mutation on the range mapped to
  [0, 1]; typical steps of a few tenths) in [-weight_range, weight_range]. max_nodes (default 200, inputs and outputs included) and
  max_connections (default 1000) cap growth: operators that would pass them do nothing.
  There is no crossover (the paper used none).

Genome files (to_json / from_json)
  {"encoding": "cppn", "inputs": ["x", "y", "d", "bias"],
   "hidden": [{"id": 4, "activation": "sine"}, ...],
   "outputs": [{"id": 7, "activation": "sigmoid"}, ...],      # in channel order
   "connections": [[source id, target id, weight], ...]}
  Ids 0-3 are the inputs; other ids are any distinct integers. Weights are the float32 values
  written as JSON numbers, so the round trip is exact. from_json checks everything (types,
  activations, endpoints, direction, cycles, finite in-range weights, size limits) and puts
  hidden nodes listed out of order into a topological order.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from ..errors import EvodreamError
from .base import Encoding
from .direct import polynomial_mutation

INPUTS = ("x", "y", "d", "bias")
N_IN = len(INPUTS)
ACTIVATIONS = ("sine", "sigmoid", "gaussian", "linear", "tanh", "abs")
OUTPUT_ACTIVATIONS = ACTIVATIONS[:5]  # codes 0-4: the ones whose range is all of [-1, 1]
ACTIVATION_CODE = {name: code for code, name in enumerate(ACTIVATIONS)}
COLOURS = ("hls", "hsv", "rgb")

JSON_MAX_NODES = 10_000        # untrusted genome files: refuse anything bigger than this
JSON_MAX_CONNECTIONS = 10_000
RENDER_CHUNK_FLOATS = 1 << 24  # node values held at once by the batched renderer (64 MiB of float32)
BATCH_MAX_PIXELS = 64 * 64     # images this big or bigger are rendered genome by genome


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


# -- activations, applied in place to a block of pre-activations -----------------------------
# (tanh and the scaled sigmoid go through sigmoid_, which is 2-5x cheaper than tanh_ on CPU)

def _sine(t):
    return t.sin_()


def _sigmoid(t):  # 2 sigmoid(z) - 1
    return t.sigmoid_().mul_(2.0).sub_(1.0)


def _gaussian(t):  # 2 exp(-z^2) - 1
    return t.square_().neg_().exp_().mul_(2.0).sub_(1.0)


def _linear(t):
    return t.clamp_(-1.0, 1.0)


def _tanh(t):  # tanh(z) = 2 sigmoid(2z) - 1
    return t.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)


def _abs(t):
    return t.abs_().clamp_(max=1.0)


_ACT_FUNCS = (_sine, _sigmoid, _gaussian, _linear, _tanh, _abs)


# -- colour spaces: in place on (..., 3, P) tensors in [0, 1] ---------------------------------

def hls_to_rgb_(t: torch.Tensor) -> torch.Tensor:
    """HLS -> RGB (colorsys' conversion, written branch-free), in place on the channel dim -2."""
    h, l, s = t.unbind(-2)
    a = torch.minimum(l, 1.0 - l).mul_(s)
    rgb = []
    for n in (0.0, 8.0, 4.0):
        # k = (n + 12 h) mod 12 (frac: remainder is far slower on CPU); f = clamp(min(k-3, 9-k), -1, 1)
        k = torch.frac(h + n / 12.0).mul_(12.0)
        f = k.sub_(6.0).abs_().neg_().add_(3.0).clamp_(-1.0, 1.0)
        rgb.append(torch.addcmul(l, a, f, value=-1.0))
    for channel, value in zip(t.unbind(-2), rgb):
        channel.copy_(value)
    return t.clamp_(0.0, 1.0)


def hsv_to_rgb_(t: torch.Tensor) -> torch.Tensor:
    """HSV -> RGB (colorsys' conversion, written branch-free), in place on the channel dim -2."""
    h, s, v = t.unbind(-2)
    vs = v * s
    rgb = []
    for n in (5.0, 3.0, 1.0):
        k = torch.frac(h + n / 6.0).mul_(6.0)  # k = (n + 6 h) mod 6; f = clamp(min(k, 4 - k), 0, 1)
        f = k.sub_(2.0).abs_().neg_().add_(2.0).clamp_(0.0, 1.0)
        rgb.append(torch.addcmul(v, vs, f, value=-1.0))
    for channel, value in zip(t.unbind(-2), rgb):
        channel.copy_(value)
    return t.clamp_(0.0, 1.0)


def _fail(problem: str) -> EvodreamError:
    return EvodreamError(f"invalid cppn genome: {problem}; re-export it with evodream or fix the file")


class CPPNEncoding(Encoding):
    name = "cppn"

    def __init__(self, channels: int, size: int, *, colour: str = "hls", add_connection: float = 0.5,
                 delete_connection: float = 0.3, add_node: float = 0.5, delete_node: float = 0.2,
                 change_activation: float = 0.1, weight_rate: float = 0.1, eta: float = 15.0,
                 weight_range: float = 10.0, max_nodes: int = 200, max_connections: int = 1000,
                 init_weight: float = 3.0):
        super().__init__(channels, size)
        if channels not in (1, 3):
            raise EvodreamError(f"the cppn encoding makes 1- or 3-channel images, not {channels}; "
                                "use a grey or RGB classifier")
        if colour not in COLOURS:
            raise EvodreamError(f"unknown cppn colour mode {colour!r}; use one of {', '.join(COLOURS)}")
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
        self._grids: dict[int, torch.Tensor] = {}

    def settings(self) -> dict:
        return {**super().settings(), "colour": self.colour, "inputs": list(INPUTS),
                "activations": list(ACTIVATIONS), "add_connection": self.add_connection,
                "delete_connection": self.delete_connection, "add_node": self.add_node,
                "delete_node": self.delete_node, "change_activation": self.change_activation,
                "weight_rate": self.weight_rate, "eta": self.eta, "weight_range": self.weight_range,
                "init_weight": self.init_weight, "max_nodes": self.max_nodes,
                "max_connections": self.max_connections}

    # -- population ---------------------------------------------------------------------------

    def random(self, n: int, rng: np.random.Generator) -> list[CPPN]:
        c = self.channels
        src = np.repeat(np.arange(N_IN, dtype=np.int32), c)
        dst = np.tile(np.arange(N_IN, N_IN + c, dtype=np.int32), N_IN)
        population = []
        for _ in range(n):
            acts = rng.integers(len(OUTPUT_ACTIVATIONS), size=c).astype(np.int8)
            weight = rng.uniform(-self.init_weight, self.init_weight, size=len(src)).astype(np.float32)
            population.append(CPPN(acts, c, src.copy(), dst.copy(), weight))
        return population

    def stack(self, genomes: Sequence[CPPN]) -> list[CPPN]:
        return list(genomes)

    def unstack(self, population: Sequence[CPPN]) -> list[CPPN]:
        return list(population)

    # -- mutation -----------------------------------------------------------------------------

    def mutate(self, population: Sequence[CPPN], rng: np.random.Generator, generation: int = 0,
               strength: np.ndarray | None = None) -> list[CPPN]:
        """Mutated copies. `strength` (one positive number per genome, 1 = as configured) scales
        every operator probability and the weight rate of that genome's child, capped at 1."""
        if strength is None:
            scales = [1.0] * len(population)
        else:
            scales = np.asarray(strength, dtype=np.float64).reshape(-1)
            if len(scales) != len(population) or not np.all(np.isfinite(scales)) or np.any(scales < 0):
                raise ValueError(f"strength needs one finite number >= 0 per genome ({len(population)})")
            scales = scales.tolist()
        children = [self._mutate_structure(g, rng, scale) for g, scale in zip(population, scales)]
        if not children:
            return children
        # Weights of the whole population in one vectorised polynomial mutation on [0, 1].
        counts = [g.n_connections for g in children]
        rate = self.weight_rate
        if strength is not None:
            rate = np.repeat(np.minimum(self.weight_rate * np.asarray(scales, dtype=np.float32), 1.0), counts)
        r = np.float32(self.weight_range)
        weights = np.concatenate([g.weight for g in children]).astype(np.float32)
        unit = (weights + r) / (2 * r)
        mutated = polynomial_mutation(unit, rng, rate, self.eta)
        changed = mutated != unit  # untouched weights keep their exact value (no round-off drift)
        weights = np.where(changed, np.clip(mutated * (2 * r) - r, -r, r), weights).astype(np.float32)
        for g, w in zip(children, np.split(weights, np.cumsum(counts)[:-1])):
            g.weight = w
        return children

    def _mutate_structure(self, g: CPPN, rng: np.random.Generator, scale: float = 1.0) -> CPPN:
        # Plain lists: these graphs are small, and list edits beat numpy's per-call overhead.
        acts, src, dst, weight = g.acts.tolist(), g.src.tolist(), g.dst.tolist(), g.weight.tolist()
        c = g.n_outputs
        draws = rng.random(5)
        if scale != 1.0:  # u < p * scale  <=>  u / scale < p
            draws = draws / scale if scale > 0 else np.full(5, np.inf)

        if draws[0] < self.add_connection and len(src) < self.max_connections:
            n = N_IN + len(acts)
            out_start = n - c
            # Free (source, destination) pairs: source not an output, destination not an input,
            # source earlier in the order (keeps the graph acyclic), not yet connected.
            free = np.zeros((out_start, n), dtype=bool)
            free[:, N_IN:] = True
            free &= np.arange(n)[None, :] > np.arange(out_start)[:, None]
            free[src, dst] = False
            choices = np.flatnonzero(free)
            if len(choices):
                pick = int(choices[rng.integers(len(choices))])
                src.append(pick // n)
                dst.append(pick % n)
                weight.append(float(np.float32(rng.uniform(-self.init_weight, self.init_weight))))

        if draws[1] < self.delete_connection and src:
            k = int(rng.integers(len(src)))
            del src[k], dst[k], weight[k]

        if (draws[2] < self.add_node and src and N_IN + len(acts) < self.max_nodes
                and len(src) < self.max_connections):
            k = int(rng.integers(len(src)))
            s, d, w = src.pop(k), dst.pop(k), weight.pop(k)
            out_start = N_IN + len(acts) - c
            p = d if d < out_start else out_start  # right before d, or after the last hidden node
            acts.insert(p - N_IN, int(rng.integers(len(ACTIVATIONS))))
            src = [i + (i >= p) for i in src]
            dst = [i + (i >= p) for i in dst]
            src += [s, p]        # s < p: unshifted
            dst += [p, d + 1]    # d >= p: shifted
            weight += [min(1.0, self.weight_range), w]

        n_hidden = len(acts) - c
        if draws[3] < self.delete_node and n_hidden:
            p = N_IN + int(rng.integers(n_hidden))
            keep = [k for k in range(len(src)) if src[k] != p and dst[k] != p]
            src = [src[k] - (src[k] > p) for k in keep]
            dst = [dst[k] - (dst[k] > p) for k in keep]
            weight = [weight[k] for k in keep]
            del acts[p - N_IN]

        if draws[4] < self.change_activation:
            j = int(rng.integers(len(acts)))
            choices = len(ACTIVATIONS) if j < len(acts) - c else len(OUTPUT_ACTIVATIONS)
            acts[j] = (acts[j] + 1 + int(rng.integers(choices - 1))) % choices

        return CPPN(np.array(acts, dtype=np.int8), c, np.array(src, dtype=np.int32),
                    np.array(dst, dtype=np.int32), np.array(weight, dtype=np.float32))

    # -- rendering ----------------------------------------------------------------------------

    def grid(self, size: int) -> torch.Tensor:
        """The inputs (x, y, d, bias) at every pixel centre, shaped (4, size*size); cached per size."""
        grid = self._grids.get(size)
        if grid is None:
            coords = (torch.arange(size, dtype=torch.float64) + 0.5) * (2.0 / size) - 1.0
            y, x = torch.meshgrid(coords, coords, indexing="ij")
            d = torch.sqrt(x * x + y * y)
            grid = torch.stack([x, y, d, torch.ones_like(x)]).reshape(N_IN, -1).to(torch.float32)
            self._grids[size] = grid
        return grid

    @torch.no_grad()
    def render(self, population: Sequence[CPPN], size: int | None = None) -> torch.Tensor:
        size = self.size if size is None else int(size)
        if size < 1:
            raise EvodreamError(f"cannot render a CPPN at size {size}; use a positive image size")
        pixels = size * size
        out = torch.empty(len(population), self.channels, pixels, dtype=torch.float32)
        if len(population) == 0:
            return out.view(0, self.channels, size, size)
        if pixels >= BATCH_MAX_PIXELS:
            # Big images: genome by genome, node by node, so each row of pixel values is still
            # in cache for its activation and the outputs for the colour conversion.
            self._render_each(population, out)
        else:
            # Small images: the per-op overhead dominates, so evaluate many genomes together.
            start = 0
            while start < len(population):
                stop, nodes = start + 1, N_IN + len(population[start].acts)
                while stop < len(population) and (nodes + len(population[stop].acts)) * pixels <= RENDER_CHUNK_FLOATS:
                    nodes += len(population[stop].acts)
                    stop += 1
                block = out[start:stop]
                self._render_chunk(population[start:stop], block)
                self._finish(block)
                start = stop
        return out.view(len(population), self.channels, size, size)

    def _finish(self, block: torch.Tensor) -> None:
        """Output node values (..., channels, P) in [-1, 1] -> image values in [0, 1], in place."""
        block.add_(1.0).mul_(0.5).clamp_(0.0, 1.0)
        if self.channels == 3 and self.colour != "rgb":
            (hls_to_rgb_ if self.colour == "hls" else hsv_to_rgb_)(block)

    def _render_each(self, population: Sequence[CPPN], out: torch.Tensor) -> None:
        grid = self.grid(int(math.isqrt(out.shape[-1])))
        values = torch.empty(max(g.n_nodes for g in population), grid.shape[1], dtype=torch.float32)
        values[:N_IN] = grid
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
                _ACT_FUNCS[act](target)
            self._finish(out[i])

    def _render_chunk(self, genomes: Sequence[CPPN], out: torch.Tensor) -> None:
        """Output node values (B, channels, P) of several genomes, evaluated together level by level.

        All the chunk's non-input nodes share one value table, sorted by (depth, activation), so
        that each depth level is one sparse matrix product over the earlier rows and each
        activation one in-place op on a contiguous block.
        """
        grid = self.grid(int(math.isqrt(out.shape[-1])))
        pixels = grid.shape[1]
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
        values[:N_IN] = grid
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
                _ACT_FUNCS[level_acts[u]](values[lo + u:lo + v])
        out_rows = np.concatenate([row[o + len(g.acts) - g.n_outputs:o + len(g.acts)]
                                   for g, o in zip(genomes, offsets)])
        out.copy_(values[torch.from_numpy(out_rows)].view(out.shape))

    # -- files --------------------------------------------------------------------------------

    def to_json(self, genome: CPPN) -> dict:
        h = genome.n_hidden
        return {
            "encoding": self.name,
            "inputs": list(INPUTS),
            "hidden": [{"id": N_IN + i, "activation": ACTIVATIONS[a]} for i, a in enumerate(genome.acts[:h].tolist())],
            "outputs": [{"id": N_IN + h + i, "activation": ACTIVATIONS[a]}
                        for i, a in enumerate(genome.acts[h:].tolist())],
            # float32 weights written as Python floats: exact through JSON's shortest repr.
            "connections": [[s, d, w] for s, d, w in zip(genome.src.tolist(), genome.dst.tolist(),
                                                         genome.weight.astype(np.float64).tolist())],
        }

    def from_json(self, data: dict) -> CPPN:
        """Check an untrusted dict thoroughly and build its genome (hidden nodes re-sorted if needed)."""
        if not isinstance(data, dict):
            raise _fail(f"expected a JSON object, got {type(data).__name__}")
        if data.get("encoding") != self.name:
            raise _fail(f"encoding is {data.get('encoding')!r}, expected 'cppn'")
        for key in ("hidden", "outputs", "connections"):
            if key not in data:
                raise _fail(f"missing key {key!r}")
            if not isinstance(data[key], list):
                raise _fail(f"{key!r} must be a list, not {type(data[key]).__name__}")
        if "inputs" in data and data["inputs"] != list(INPUTS):
            raise _fail(f"inputs are {data['inputs']!r}, expected {list(INPUTS)!r}")
        hidden, outputs, connections = data["hidden"], data["outputs"], data["connections"]
        if len(hidden) + len(outputs) + N_IN > JSON_MAX_NODES:
            raise _fail(f"{len(hidden) + len(outputs) + N_IN} nodes, more than the limit of {JSON_MAX_NODES}")
        if len(connections) > JSON_MAX_CONNECTIONS:
            raise _fail(f"{len(connections)} connections, more than the limit of {JSON_MAX_CONNECTIONS}")
        if len(outputs) != self.channels:
            raise _fail(f"{len(outputs)} outputs, but this run makes {self.channels}-channel images")

        index: dict[int, int] = {i: i for i in range(N_IN)}  # file id -> position in the file's order
        codes = []
        for kind, nodes, allowed in (("hidden", hidden, ACTIVATIONS), ("output", outputs, OUTPUT_ACTIVATIONS)):
            for node in nodes:
                if not isinstance(node, dict) or "id" not in node or "activation" not in node:
                    raise _fail(f"each {kind} node must be an object with 'id' and 'activation', got {node!r:.60}")
                node_id, act = node["id"], node["activation"]
                if not isinstance(node_id, int) or isinstance(node_id, bool):
                    raise _fail(f"node id {node_id!r:.40} is not an integer")
                if node_id in index:
                    raise _fail(f"node id {node_id} is used twice (ids 0-3 are the inputs)")
                if act not in allowed:
                    if act in ACTIVATIONS:
                        raise _fail(f"activation {act!r} is not allowed on output nodes; use one of {', '.join(allowed)}")
                    raise _fail(f"unknown activation {act!r:.40}; use one of {', '.join(allowed)}")
                index[node_id] = len(index)
                codes.append(ACTIVATION_CODE[act])
        n = len(index)
        n_hidden = len(hidden)
        out_start = N_IN + n_hidden

        src, dst, weight = [], [], []
        seen = set()
        for conn in connections:
            if not isinstance(conn, list) or len(conn) != 3:
                raise _fail(f"each connection must be [source id, target id, weight], got {conn!r:.60}")
            s, d, w = conn
            for end in (s, d):
                if not isinstance(end, int) or isinstance(end, bool):
                    raise _fail(f"connection endpoint {end!r:.40} is not an integer node id")
                if end not in index:
                    raise _fail(f"connection {s} -> {d} refers to node {end}, which does not exist")
            if not isinstance(w, (int, float)) or isinstance(w, bool):
                raise _fail(f"connection {s} -> {d} has weight {w!r:.40}, not a number")
            if isinstance(w, float) and not math.isfinite(w):  # (an int is finite; isfinite overflows on huge ones)
                raise _fail(f"connection {s} -> {d} has weight {w}, not a finite number")
            if abs(w) > self.weight_range:
                w = f"{w:.4g}" if abs(w) < 1e300 else "a huge number"  # (a huge int cannot be formatted as a float)
                raise _fail(f"connection {s} -> {d} has weight {w}, outside the weight range "
                            f"[-{self.weight_range:g}, {self.weight_range:g}] of this run")
            ps, pd = index[s], index[d]
            if pd < N_IN:
                raise _fail(f"connection {s} -> {d} feeds input node {d}; inputs take no connections")
            if ps >= out_start:
                raise _fail(f"connection {s} -> {d} leaves output node {s}; outputs feed nothing")
            if (ps, pd) in seen:
                raise _fail(f"connection {s} -> {d} appears twice")
            seen.add((ps, pd))
            src.append(ps)
            dst.append(pd)
            weight.append(w)

        # Topological order of the hidden nodes (Kahn, keeping the file's order where it already
        # is one, so to_json -> from_json is exact); a leftover node means a cycle.
        position = self._topological_positions(n, out_start, src, dst)
        acts = np.empty(n - N_IN, dtype=np.int8)
        acts[position[N_IN:] - N_IN] = codes
        src_arr = position[np.asarray(src, dtype=np.int64)].astype(np.int32)
        dst_arr = position[np.asarray(dst, dtype=np.int64)].astype(np.int32)
        return CPPN(acts, self.channels, src_arr, dst_arr, np.asarray(weight, dtype=np.float32).reshape(-1))

    @staticmethod
    def _topological_positions(n: int, out_start: int, src: list, dst: list) -> np.ndarray:
        """New position of every node: inputs, hidden nodes in a topological order, outputs."""
        import heapq

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
        if placed != out_start:
            raise _fail("its connections form a cycle; a CPPN must be feed-forward")
        return position
