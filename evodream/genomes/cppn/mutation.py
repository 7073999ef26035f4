"""CPPN mutation: five structural operators and the weight mutation, each on its own random stream.

Per child, each operator fires independently with its probability (the paper's by default), in
this order:
  add_connection 0.5    between two unconnected nodes, from an earlier node to a later one in
                        the topological order (never into an input, never out of an output);
                        new weight uniform in [-init_weight, init_weight]
  delete_connection 0.3 a random connection
  add_node 0.5          splits a random connection a->b (weight w) into a->new (weight 1) and
                        new->b (weight w); the new node has a random hidden activation
  delete_node 0.2       a random hidden node with all its connections
  change_activation 0.1 a random hidden or output node gets another activation
then every weight, with probability weight_rate (default 0.1, the paper's per-gene rate for the
direct encoding; about 2 weights per child at the start, more as networks grow), gets bounded
polynomial mutation (eta 15, via direct.polynomial_mutation on the range mapped to [0, 1];
median step about 0.85, mean 1.2, at weight_range 10) in [-weight_range, weight_range]. max_nodes
(inputs and outputs included) and max_connections cap growth: operators that would pass them do
nothing. Crossover, which the paper did not use, is crossover.py's (off unless --crossover-rate).

Random streams. A mutate call draws exactly one 63-bit seed from the caller's generator; the
operator with stream id k then draws from its own generator, default_rng([seed, k]) (a
SeedSequence over both numbers), for the whole population: first whether it fires for each
child, then its choices for the children it fires on. So an operator's draws never depend on how
many numbers another operator used, and adding an operator (with a new, never reused id) leaves
the others' streams where they were; the caller's generator moves by one number per call
whatever the genomes look like.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..direct import polynomial_mutation
from .activations import ACTIVATIONS, OUTPUT_ACTIVATIONS
from .network import CPPN, N_IN


@dataclass(frozen=True)
class MutationSettings:
    """Operator probabilities, weight mutation and growth caps (checked by CPPNEncoding)."""
    add_connection: float = 0.5
    delete_connection: float = 0.3
    add_node: float = 0.5
    delete_node: float = 0.2
    change_activation: float = 0.1
    weight_rate: float = 0.1
    eta: float = 15.0
    weight_range: float = 10.0
    init_weight: float = 3.0
    max_nodes: int = 200
    max_connections: int = 1000


@dataclass
class Draft:
    """A genome being edited, as plain lists: these graphs are small, and list edits beat numpy's
    per-call overhead. Positions follow CPPN's order (inputs, hidden, outputs)."""
    acts: list
    n_outputs: int
    src: list
    dst: list
    weight: list

    @classmethod
    def of(cls, genome: CPPN) -> Draft:
        return cls(genome.acts.tolist(), genome.n_outputs, genome.src.tolist(), genome.dst.tolist(),
                   genome.weight.tolist())

    def genome(self) -> CPPN:
        """A new CPPN sharing no memory with the parent."""
        return CPPN(np.array(self.acts, dtype=np.int8), self.n_outputs, np.array(self.src, dtype=np.int32),
                    np.array(self.dst, dtype=np.int32), np.array(self.weight, dtype=np.float32))


# -- structural operators: each edits one draft in place, drawing only from its own rng --------

def add_connection(g: Draft, rng: np.random.Generator, settings: MutationSettings) -> None:
    if len(g.src) >= settings.max_connections:
        return
    n = N_IN + len(g.acts)
    out_start = n - g.n_outputs
    # Free (source, destination) pairs: source not an output, destination not an input, source
    # earlier in the order (keeps the graph acyclic), not yet connected.
    free = np.zeros((out_start, n), dtype=bool)
    free[:, N_IN:] = True
    free &= np.arange(n)[None, :] > np.arange(out_start)[:, None]
    free[g.src, g.dst] = False
    choices = np.flatnonzero(free)
    if len(choices):
        pick = int(choices[rng.integers(len(choices))])
        g.src.append(pick // n)
        g.dst.append(pick % n)
        g.weight.append(float(np.float32(rng.uniform(-settings.init_weight, settings.init_weight))))


def delete_connection(g: Draft, rng: np.random.Generator, settings: MutationSettings) -> None:
    if g.src:
        k = int(rng.integers(len(g.src)))
        del g.src[k], g.dst[k], g.weight[k]


def add_node(g: Draft, rng: np.random.Generator, settings: MutationSettings) -> None:
    if not (g.src and N_IN + len(g.acts) < settings.max_nodes and len(g.src) < settings.max_connections):
        return
    k = int(rng.integers(len(g.src)))
    s, d, w = g.src.pop(k), g.dst.pop(k), g.weight.pop(k)
    out_start = N_IN + len(g.acts) - g.n_outputs
    p = d if d < out_start else out_start  # right before d, or after the last hidden node
    g.acts.insert(p - N_IN, int(rng.integers(len(ACTIVATIONS))))
    g.src = [i + (i >= p) for i in g.src] + [s, p]       # s < p: unshifted
    g.dst = [i + (i >= p) for i in g.dst] + [p, d + 1]   # d >= p: shifted
    g.weight += [min(1.0, settings.weight_range), w]     # the split keeps a -> b's signal for now


def delete_node(g: Draft, rng: np.random.Generator, settings: MutationSettings) -> None:
    n_hidden = len(g.acts) - g.n_outputs
    if not n_hidden:
        return
    p = N_IN + int(rng.integers(n_hidden))
    keep = [k for k in range(len(g.src)) if g.src[k] != p and g.dst[k] != p]
    g.src = [g.src[k] - (g.src[k] > p) for k in keep]
    g.dst = [g.dst[k] - (g.dst[k] > p) for k in keep]
    g.weight = [g.weight[k] for k in keep]
    del g.acts[p - N_IN]


def change_activation(g: Draft, rng: np.random.Generator, settings: MutationSettings) -> None:
    j = int(rng.integers(len(g.acts)))
    choices = len(ACTIVATIONS) if j < len(g.acts) - g.n_outputs else len(OUTPUT_ACTIVATIONS)
    g.acts[j] = (g.acts[j] + 1 + int(rng.integers(choices - 1))) % choices  # never the same one


Operator = Callable[[Draft, np.random.Generator, MutationSettings], None]

# (name = the MutationSettings probability, stream id, operator), applied in this order. Stream
# ids are permanent: a new operator takes a new id, and no id is ever reused.
OPERATORS: tuple[tuple[str, int, Operator], ...] = (
    ("add_connection", 1, add_connection),
    ("delete_connection", 2, delete_connection),
    ("add_node", 3, add_node),
    ("delete_node", 4, delete_node),
    ("change_activation", 5, change_activation),
)
WEIGHT_STREAM = 6


def stream(seed: int, stream_id: int) -> np.random.Generator:
    """The generator of one operator for one mutate call."""
    return np.random.default_rng([seed, stream_id])


def mutate_weights(children: Sequence[CPPN], rng: np.random.Generator, settings: MutationSettings,
                   scales: np.ndarray | None = None) -> None:
    """Polynomial mutation of the weights of all children at once (they are new, so in place).

    scales (one per child, None = all 1) multiply the weight rate, capped at 1."""
    counts = [g.n_connections for g in children]
    rate = settings.weight_rate
    if scales is not None:
        rate = np.repeat(np.minimum(settings.weight_rate * np.asarray(scales, dtype=np.float32), 1.0), counts)
    r = np.float32(settings.weight_range)
    weights = np.concatenate([g.weight for g in children]).astype(np.float32)
    unit = (weights + r) / (2 * r)
    mutated = polynomial_mutation(unit, rng, rate, settings.eta)
    changed = mutated != unit  # untouched weights keep their exact value (no round-off drift)
    weights = np.where(changed, np.clip(mutated * (2 * r) - r, -r, r), weights).astype(np.float32)
    for g, w in zip(children, np.split(weights, np.cumsum(counts)[:-1])):
        g.weight = w


def mutate(population: Sequence[CPPN], rng: np.random.Generator, settings: MutationSettings,
           strength: np.ndarray | None = None) -> list[CPPN]:
    """Mutated copies. `strength` (one number >= 0 per genome, 1 = as configured) scales every
    operator probability and the weight rate of that genome's child, capped at 1."""
    scales = np.ones(len(population))
    if strength is not None:
        scales = np.asarray(strength, dtype=np.float64).reshape(-1)
        if len(scales) != len(population) or not np.all(np.isfinite(scales)) or np.any(scales < 0):
            raise ValueError(f"strength needs one finite number >= 0 per genome ({len(population)})")
    seed = int(rng.integers(2**63))
    if not len(population):
        return []
    drafts = [Draft.of(g) for g in population]
    for name, stream_id, operator in OPERATORS:
        op_rng = stream(seed, stream_id)
        fires = op_rng.random(len(drafts)) < getattr(settings, name) * scales
        for i in np.flatnonzero(fires).tolist():
            operator(drafts[i], op_rng, settings)
    children = [d.genome() for d in drafts]
    mutate_weights(children, stream(seed, WEIGHT_STREAM), settings, None if strength is None else scales)
    return children
