"""How close any numpy search can get to the bare forward pass at small batches (LeNet, 1 thread).

`scripts/bench.py` compares evodream's search loop with the classifier's bare forward pass. At
batch 10 a LeNet pass takes well under a millisecond, and the search's per-generation work costs
far more right after a forward pass than in a loop of its own: the pass evicts the Python and
numpy working set from the core's caches. This script measures that effect and the ratio of the
leanest loop the fast recipe's arithmetic allows, to tell what a ratio goal at that batch can
ask of a numpy search on this machine:

1. evodream's ask + tell (scores fixed) in a loop of its own, and right after a session.run;
2. four loops, in alternating slices (best slice of each), at --batch:
   - bare: ONNX Runtime's session.run on one ready array (the floor under every figure);
   - evodream: the search as its driver runs it (MapElites, fast recipe: focus parents,
     per-cell 1/5 rule, polynomial mutation rate 0.05, eta 2);
   - lean: the same arithmetic written inline on arrays (one cell array per target, no checks,
     no records, no abstractions), evodream's own polynomial_mutation;
   - lean, no mutation: the lean loop with children copied from their parents;
   and each loop's evaluations/s divided by bare's images/s.

    python scripts/bench_floor.py                 # batch 10, about a minute
    python scripts/bench_floor.py --batch 200
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from bench import search_rate, session_rate  # (scripts/ is on the path when run as a script)

from evodream.classifiers import load_classifier
from evodream.evaluator import Evaluator
from evodream.genomes import DirectEncoding
from evodream.genomes.direct import polynomial_mutation
from evodream.objectives import Objective
from evodream.search.map_elites import MapElites

RATE, ETA = 0.05, 2.0  # the fast recipe's mutation


class LeanLoop:
    """The fast recipe on LeNet's ten classes as bare array code: parents drawn from the cells,
    mutated (or copied), scored by session.run, the 1/5 rule and the insertion of each child into
    every cell it beats."""

    def __init__(self, session, batch: int, mutate: bool, seed: int = 0):
        self.session, self.batch, self.mutate = session, batch, mutate
        self.rng = np.random.default_rng(seed)
        self.cells = self.rng.random((10, 1, 28, 28), dtype=np.float32)  # one elite per digit
        self.fitness = np.full(10, -np.inf)
        self.strength = np.ones(10)
        self.rows = np.arange(batch)

    def generation(self) -> None:
        parents = self.rng.integers(0, 10, size=self.batch)
        children = self.cells[parents]
        if self.mutate:
            rate = np.minimum(RATE * self.strength[parents].astype(np.float32), 1.0)
            rate = rate.reshape(-1, 1, 1, 1)
            children = polynomial_mutation(children, self.rng, rate, ETA)
        logits = self.session.run(["logits"], {"images": children})[0].astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        success = log_probs[self.rows, parents] > self.fitness[parents]
        self.strength *= 1.5 ** (np.bincount(parents, weights=success, minlength=10)
                                 - np.bincount(parents, weights=~success, minlength=10) / 4)
        best = log_probs.argmax(axis=0)
        best_fitness = log_probs[best, np.arange(10)]
        improved = np.flatnonzero(best_fitness > self.fitness)
        self.cells[improved] = children[best[improved]]
        self.fitness[improved] = best_fitness[improved]

    def rate(self, seconds: float) -> float:
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            self.generation()
            done += self.batch
        return done / (time.perf_counter() - start)


def cache_effect(search, evaluator, session, generations: int = 3000) -> tuple[float, float]:
    """Microseconds of one ask + tell (scores fixed) in a loop of its own, and right after a pass."""
    population = search.ask()
    scores = evaluator(population)
    search.tell(population, scores)
    images = np.random.default_rng(1).random((search.batch_size, 1, 28, 28), dtype=np.float32)
    times = []
    for with_pass in (False, True):
        spent = 0.0
        for _ in range(generations):
            if with_pass:
                session.run(["logits"], {"images": images})
            start = time.perf_counter()
            search.tell(search.ask(), scores)
            spent += time.perf_counter() - start
        times.append(spent / generations * 1e6)
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=10, help="children per generation (default 10)")
    parser.add_argument("--seconds", type=float, default=8.0, help="time per loop, over 4 slices")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lenet = load_classifier("lenet-mnist", engine="onnxruntime")
    session = lenet.session
    encoding = DirectEncoding(1, 28, mutation_rate=RATE, eta=ETA)
    evaluator = Evaluator(encoding, Objective(lenet, range(10)))
    search = MapElites(encoding, range(10), np.random.default_rng(0), batch_size=args.batch, goal=1.0,
                       parent_selection="focus", adaptive=True)
    for _ in range(100):
        search.step(evaluator)
    alone, after_pass = cache_effect(search, evaluator, session)
    print(f"onnxruntime {lenet.engine_version}, 1 thread, batch {args.batch}")
    print(f"evodream ask + tell: {alone:.0f} us in a loop of its own, {after_pass:.0f} us right after a "
          f"session.run ({after_pass / alone:.1f}x)")
    loops = {"bare session.run": lambda s: session_rate(lenet, args.batch, s),
             "evodream search": lambda s: search_rate(search, evaluator, s),
             "lean loop": LeanLoop(session, args.batch, mutate=True).rate,
             "lean loop, no mutation": LeanLoop(session, args.batch, mutate=False).rate}
    best = dict.fromkeys(loops, 0.0)
    for _ in range(4):
        for name, measure in loops.items():
            measure(0.2)  # warm-up of this loop's own working set
            best[name] = max(best[name], measure(args.seconds / 4))
    bare = best["bare session.run"]
    for name, rate in best.items():
        print(f"{name:<24} {rate:9.0f} per s   ratio to bare {rate / bare:5.2f}", flush=True)


if __name__ == "__main__":
    main()
