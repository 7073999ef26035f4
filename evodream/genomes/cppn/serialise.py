"""CPPN genome files: to_json, and from_json, which checks untrusted files thoroughly.

  {"encoding": "cppn", "inputs": ["x", "y", "d", "bias"],
   "hidden": [{"id": 4, "activation": "sine"}, ...],
   "outputs": [{"id": 7, "activation": "sigmoid"}, ...],      # in channel order
   "connections": [[source id, target id, weight], ...]}
Ids 0-3 are the inputs; other ids are any distinct integers. Weights are the float32 values
written as JSON numbers, so the round trip is exact. from_json checks everything (types,
activations, endpoints, direction, cycles, finite in-range weights, size limits) and puts hidden
nodes listed out of order into a topological order.
"""
from __future__ import annotations

import math

import numpy as np

from ...errors import EvodreamError
from .activations import ACTIVATION_CODE, ACTIVATIONS, OUTPUT_ACTIVATIONS
from .network import CPPN, INPUTS, N_IN, topological_positions

ENCODING = "cppn"              # the file's "encoding" value
JSON_MAX_NODES = 10_000        # untrusted genome files: refuse anything bigger than this
JSON_MAX_CONNECTIONS = 10_000


def _fail(problem: str) -> EvodreamError:
    return EvodreamError(f"invalid cppn genome: {problem}; re-export it with evodream or fix the file")


def to_json(genome: CPPN) -> dict:
    h = genome.n_hidden
    return {
        "encoding": ENCODING,
        "inputs": list(INPUTS),
        "hidden": [{"id": N_IN + i, "activation": ACTIVATIONS[a]}
                   for i, a in enumerate(genome.acts[:h].tolist())],
        "outputs": [{"id": N_IN + h + i, "activation": ACTIVATIONS[a]}
                    for i, a in enumerate(genome.acts[h:].tolist())],
        # float32 weights written as Python floats: exact through JSON's shortest repr.
        "connections": [[s, d, w] for s, d, w in zip(genome.src.tolist(), genome.dst.tolist(),
                                                     genome.weight.astype(np.float64).tolist())],
    }


def from_json(data: dict, channels: int, weight_range: float) -> CPPN:
    """Check an untrusted dict thoroughly and build its genome (hidden nodes re-sorted if needed).

    channels and weight_range are the run's: a file must have that many outputs and weights
    within [-weight_range, weight_range]."""
    if not isinstance(data, dict):
        raise _fail(f"expected a JSON object, got {type(data).__name__}")
    if data.get("encoding") != ENCODING:
        raise _fail(f"encoding is {data.get('encoding')!r}, expected {ENCODING!r}")
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
    if len(outputs) != channels:
        raise _fail(f"{len(outputs)} outputs, but this run makes {channels}-channel images")

    index, codes = _read_nodes(hidden, outputs)
    n = len(index)
    out_start = N_IN + len(hidden)
    src, dst, weight = _read_connections(connections, index, out_start, weight_range)

    # Topological order of the hidden nodes (keeping the file's order where it already is one,
    # so to_json -> from_json is exact); no order means a cycle.
    position = topological_positions(n, out_start, src, dst)
    if position is None:
        raise _fail("its connections form a cycle; a CPPN must be feed-forward")
    acts = np.empty(n - N_IN, dtype=np.int8)
    acts[position[N_IN:] - N_IN] = codes
    src_arr = position[np.asarray(src, dtype=np.int64)].astype(np.int32)
    dst_arr = position[np.asarray(dst, dtype=np.int64)].astype(np.int32)
    return CPPN(acts, channels, src_arr, dst_arr, np.asarray(weight, dtype=np.float32).reshape(-1))


def _read_nodes(hidden: list, outputs: list) -> tuple[dict[int, int], list[int]]:
    """File id -> position in the file's order (inputs, hidden, outputs), and each node's code."""
    index: dict[int, int] = {i: i for i in range(N_IN)}
    codes = []
    for kind, nodes, allowed in (("hidden", hidden, ACTIVATIONS), ("output", outputs, OUTPUT_ACTIVATIONS)):
        for node in nodes:
            if not isinstance(node, dict) or "id" not in node or "activation" not in node:
                raise _fail(f"each {kind} node must be an object with 'id' and 'activation', "
                            f"got {node!r:.60}")
            node_id, act = node["id"], node["activation"]
            if not isinstance(node_id, int) or isinstance(node_id, bool):
                raise _fail(f"node id {node_id!r:.40} is not an integer")
            if node_id in index:
                raise _fail(f"node id {node_id} is used twice (ids 0-3 are the inputs)")
            if act not in allowed:
                if act in ACTIVATIONS:
                    raise _fail(f"activation {act!r} is not allowed on output nodes; "
                                f"use one of {', '.join(allowed)}")
                raise _fail(f"unknown activation {act!r:.40}; use one of {', '.join(allowed)}")
            index[node_id] = len(index)
            codes.append(ACTIVATION_CODE[act])
    return index, codes


def _read_connections(connections: list, index: dict[int, int], out_start: int,
                      weight_range: float) -> tuple[list[int], list[int], list]:
    """The connections as file-order positions (src, dst) and weights, each one checked."""
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
        # (an int is finite, and isfinite overflows on huge ones)
        if isinstance(w, float) and not math.isfinite(w):
            raise _fail(f"connection {s} -> {d} has weight {w}, not a finite number")
        if abs(w) > weight_range:
            # (a huge int cannot be formatted as a float)
            w = f"{w:.4g}" if abs(w) < 1e300 else "a huge number"
            raise _fail(f"connection {s} -> {d} has weight {w}, outside the weight range "
                        f"[-{weight_range:g}, {weight_range:g}] of this run")
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
    return src, dst, weight
