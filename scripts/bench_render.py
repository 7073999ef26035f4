"""Milliseconds per image of the CPPN renderer at 224 px, before (reference) and after (render).

Genomes come from a grown MAP-Elites archive (a saved MapElites.state_dict() as JSON, --state),
or, without one, from a population mutated --generations times from random genomes. Both
renderers run in this process on one thread, on the same genomes, in batches as the search asks
them (--batch). Prints ms per image per colour mode and the node counts, and the largest pixel
difference between the two.

  python scripts/bench_render.py --state /tmp/grown.json
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from evodream.genomes import CPPNEncoding
from evodream.genomes.cppn import reference, render


def grown(state: str | None, generations: int, n: int, seed: int) -> list:
    encoding = CPPNEncoding(3, 224)
    if state:
        from evodream.search.map_elites import MapElites
        search = MapElites(encoding, range(1000), np.random.default_rng(0), batch_size=4, goal=1.0)
        with open(state) as f:
            search.load_state_dict(json.load(f))
        genomes = [e.genome for e in search.elites()]
        rng = np.random.default_rng(seed)
        return [genomes[i] for i in rng.permutation(len(genomes))[:n]]
    rng = np.random.default_rng(seed)
    population = encoding.random(n, rng)
    for generation in range(generations):
        population = encoding.mutate(population, rng, generation)
    return population


def per_image(fn, genomes, colour, size, batch, repeats) -> float:
    """Best of `repeats` passes over all genomes, in ms per image."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(genomes), batch):
            fn(genomes[i:i + batch], 3, colour, size)
        best = min(best, time.perf_counter() - start)
    return best / len(genomes) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", help="a MapElites state_dict JSON to take elites from")
    parser.add_argument("--generations", type=int, default=60,
                        help="mutations of random genomes when there is no --state")
    parser.add_argument("--genomes", type=int, default=200)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    genomes = grown(args.state, args.generations, args.genomes, args.seed)
    nodes = np.array([g.n_nodes for g in genomes])
    edges = np.array([g.n_connections for g in genomes])
    print(f"{len(genomes)} genomes: nodes median {np.median(nodes):.0f} (min {nodes.min()}, "
          f"max {nodes.max()}), connections median {np.median(edges):.0f}; {args.size} px, "
          f"batch {args.batch}, 1 thread")
    for colour in ("hls", "rgb"):
        before = per_image(reference.render, genomes, colour, args.size, args.batch, args.repeats)
        after = per_image(render.render, genomes, colour, args.size, args.batch, args.repeats)
        diff = max((reference.render([g], 3, colour, args.size)
                    - render.render([g], 3, colour, args.size)).abs().max().item() for g in genomes)
        print(f"{colour}: before {before:.3f} ms/img, after {after:.3f} ms/img "
              f"({before / after:.1f}x), max pixel difference {diff:.1e}")


if __name__ == "__main__":
    main()
