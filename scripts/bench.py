"""Throughput of evodream's searches against the classifier's own limit, and against textbook DEAP.

    python scripts/bench.py                 # LeNet cases (about a minute)
    python scripts/bench.py --imagenet      # also MAP-Elites CPPN on EfficientNet-Lite0 at 224 px

For each case it prints evaluations/s of the whole search (render, mutate, score, archive), the
classifier's own throughput at the same batch size measured in the same process, their ratio,
and peak memory. Figures are printed, never asserted: machines are noisy, ratios measured in one
run are what to compare.
"""
from __future__ import annotations

import argparse
import random
import resource
import time

import numpy as np
import torch

from evodream.classifiers import load_classifier
from evodream.genomes import CPPNEncoding, DirectEncoding
from evodream.objectives import Objective
from evodream.search.map_elites import MapElites


def classifier_rate(classifier, channels, size, batch, seconds) -> float:
    """Images/s of the bare batched forward pass (probabilities), on random images of the batch size."""
    images = torch.rand(batch, channels, size, size)
    classifier.probs(images)  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        classifier.probs(images)
        done += batch
    return done / (time.perf_counter() - start)


def search_rate(search, seconds) -> float:
    search.step()  # warm-up (and the random first generation)
    start_evals, start = search.evaluations, time.perf_counter()
    while time.perf_counter() - start < seconds:
        search.step()
    return (search.evaluations - start_evals) / (time.perf_counter() - start)


def textbook_deap_rate(classifier, population, generations) -> float:
    """DEAP's eaSimple as its tutorials write it: one image per evaluate call, per-gene Python mutation."""
    from deap import algorithms, base, creator, tools

    if not hasattr(creator, "BenchFitness"):
        creator.create("BenchFitness", base.Fitness, weights=(1.0,))
        creator.create("BenchIndividual", list, fitness=creator.BenchFitness)
    toolbox = base.Toolbox()
    toolbox.register("individual", tools.initRepeat, creator.BenchIndividual, random.random, 784)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)

    def evaluate(individual):
        image = torch.tensor(individual, dtype=torch.float32).view(1, 1, 28, 28)
        return (classifier.probs(image)[0, 3].item(),)

    toolbox.register("evaluate", evaluate)
    toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("mutate", tools.mutPolynomialBounded, eta=15.0, low=0.0, up=1.0, indpb=0.1)
    toolbox.register("select", tools.selTournament, tournsize=3)
    pop = toolbox.population(n=population)
    before, start = classifier.queries, time.perf_counter()
    algorithms.eaSimple(pop, toolbox, cxpb=0.5, mutpb=0.2, ngen=generations, verbose=False)
    return (classifier.queries - before) / (time.perf_counter() - start)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def row(name, search, clf, note=""):
    print(f"{name:<44} search {search:9.0f} eval/s   classifier {clf:9.0f} img/s   ratio {search / clf:5.2f}"
          f"   peak {peak_mb():6.0f} MB {note}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="time per measurement")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--imagenet", action="store_true", help="also the EfficientNet-Lite0 CPPN case (slow)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.seconds:g} s per measurement")

    lenet = load_classifier("lenet-mnist")
    objective = Objective(lenet, range(10))
    for batch, recipe in ((10, dict(parent_selection="focus", adaptive=True, eta=2.0, rate=0.05)),
                          (200, dict(parent_selection="uniform", adaptive=False, eta=15.0, rate=0.1))):
        encoding = DirectEncoding(1, 28, mutation_rate=recipe["rate"], eta=recipe["eta"])
        # goal 1.0: no cell ever counts as finished, so the search keeps its full work per generation.
        search = MapElites(encoding, objective, np.random.default_rng(0), batch_size=batch, goal=1.0,
                           parent_selection=recipe["parent_selection"], adaptive=recipe["adaptive"])
        ours = search_rate(search, args.seconds)
        row(f"map-elites direct lenet-mnist, batch {batch}", ours, classifier_rate(lenet, 1, 28, batch, args.seconds))

    deap = textbook_deap_rate(lenet, population=200, generations=5)
    encoding = DirectEncoding(1, 28)
    ours = search_rate(MapElites(encoding, objective, np.random.default_rng(0), batch_size=200, goal=1.0,
                                 parent_selection="uniform", adaptive=False), args.seconds)
    print(f"{'textbook DEAP eaSimple, lenet, population 200':<44} {deap:9.0f} eval/s   evodream at batch 200 "
          f"{ours:9.0f} eval/s   speed-up {ours / deap:5.1f}x", flush=True)

    if args.imagenet:
        effnet = load_classifier("efficientnet-lite0")
        encoding = CPPNEncoding(3, 224)
        search = MapElites(encoding, Objective(effnet, range(1000)), np.random.default_rng(0), batch_size=8,
                           goal=1.0)
        for _ in range(30):  # let the CPPNs grow some structure before timing rendering
            search.step()
        ours = search_rate(search, args.seconds * 4)
        row("map-elites cppn efficientnet-lite0, batch 8", ours,
            classifier_rate(effnet, 3, 224, 8, args.seconds * 4))


if __name__ == "__main__":
    main()
