import json
import random

import numpy as np
import torch

from evodream.driver import Stop, run
from evodream.evaluator import Evaluator
from evodream.genomes import CPPNEncoding, DirectEncoding
from evodream.objectives import Objective, confidence_fitness, ten_crops
from evodream.search.ga import GeneticAlgorithm
from evodream.search.map_elites import MapElites


def _map_elites(lenet, seed=0, **kw):
    lenet.queries = 0
    enc = DirectEncoding(1, 28, mutation_rate=0.05, eta=2.0)
    return MapElites(enc, range(10), np.random.default_rng(seed), batch_size=10, **kw), \
        Evaluator(enc, Objective(lenet, range(10)))


def test_a_child_enters_every_cell_it_beats(lenet):
    search, evaluate = _map_elites(lenet)
    search.step(evaluate)
    old = search.fitness.copy()
    # A hand-made batch: child 0 beats cells 2 and 5 only, child 1 beats cell 7 by more than child 0 does.
    fitness = np.tile(old - 1.0, (3, 1))
    fitness[0, [2, 5, 7]] = old[[2, 5, 7]] + 0.5
    fitness[1, 7] = old[7] + 1.0
    children = search.encoding.random(3, np.random.default_rng(9))
    improved = search.archive.insert(children, fitness, np.full_like(fitness, 0.5), evaluations=13)
    assert improved.tolist() == [2, 5, 7]
    genomes = search.archive.genomes
    assert np.array_equal(genomes[2], children[0]) and np.array_equal(genomes[5], children[0])
    assert np.array_equal(genomes[7], children[1]) and search.archive.found_at[7] == 13
    untouched = [c for c in range(10) if c not in (2, 5, 7)]
    assert np.array_equal(search.fitness[untouched], old[untouched])


def test_every_cell_is_filled_after_the_first_generation_and_counts_evaluations(lenet):
    search, evaluate = _map_elites(lenet)
    record = search.step(evaluate)
    assert np.isfinite(search.fitness).all()
    assert record.evaluations == 10 and evaluate.queries == 10 and len(record.confidences) == 10


def test_short_run_raises_confidence(lenet):
    search, evaluate = _map_elites(lenet, seed=3)
    first = search.step(evaluate).confidences
    for _ in range(100):
        last = search.step(evaluate).confidences
    assert np.median(last) > np.median(first) + 0.2
    assert all(b >= a for a, b in zip(first, last))  # elites never get worse


def test_same_seed_same_run(lenet):
    runs = []
    for _ in range(2):
        search, evaluate = _map_elites(lenet, seed=7)
        for _ in range(30):
            search.step(evaluate)
        runs.append((search.fitness.copy(), np.stack(search.archive.genomes)))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])


def test_ask_tell_with_the_users_own_scores_matches_the_evaluator(lenet):
    a, evaluate = _map_elites(lenet, seed=5)
    b, _ = _map_elites(lenet, seed=5)

    def my_scores(population):  # a user's own function: any (B, T) fitness and confidence
        log_probs = lenet.log_probs(b.encoding.render(population))
        return log_probs.numpy(), log_probs.exp().numpy()

    for _ in range(10):
        a.step(evaluate)
        population = b.ask()
        b.tell(population, my_scores(population))
    assert np.allclose(a.fitness, b.fitness, atol=1e-5)


def test_map_elites_state_round_trip_continues_identically(lenet):
    a, evaluate = _map_elites(lenet, seed=11)
    for _ in range(20):
        a.step(evaluate)
    b, _ = _map_elites(lenet, seed=99)
    b.load_state_dict(json.loads(json.dumps(a.state_dict(), allow_nan=False)))
    for _ in range(20):
        a.step(evaluate)
        b.step(evaluate)
    assert np.array_equal(a.fitness, b.fitness)
    assert np.array_equal(a.emitters[0].strength, b.emitters[0].strength)


def test_overlapped_map_elites_is_reproducible_and_improves(lenet):
    runs = []
    for _ in range(2):
        search, evaluate = _map_elites(lenet, seed=4)
        first = search.step(evaluate).confidences
        loop = run(search, evaluate, Stop(generations=101), overlap=True)
        last = loop.record.confidences
        runs.append((search.fitness.copy(), np.stack(search.archive.genomes)))
        assert np.median(last) > np.median(first) + 0.2
        assert search.evaluations == 101 * 10  # the generation bred ahead is not counted until scored
        assert len(search.pending()) == 1
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])


def test_overlapped_state_round_trip_keeps_the_generation_bred_ahead(lenet):
    a, evaluate = _map_elites(lenet, seed=11)
    run(a, evaluate, Stop(generations=15), overlap=True)
    state = json.loads(json.dumps(a.state_dict(), allow_nan=False))  # what a checkpoint holds
    (asked,) = state["asked"]
    assert len(asked["genomes"]) == 10 and len(asked["infos"][0]) == 10
    b, _ = _map_elites(lenet, seed=99)
    b.load_state_dict(state)
    run(a, evaluate, Stop(generations=30), overlap=True)
    run(b, evaluate, Stop(generations=30), overlap=True)
    assert np.array_equal(a.fitness, b.fitness)
    assert np.array_equal(a.emitters[0].strength, b.emitters[0].strength)


def test_ga_raises_confidence_and_resumes_identically(lenet):
    def make(seed):
        random.seed(seed)
        enc = CPPNEncoding(1, 28)
        return GeneticAlgorithm(enc, [3, 8], np.random.default_rng(seed), population_size=10), \
            Evaluator(enc, Objective(lenet, [3, 8]))

    a, evaluate = make(1)
    first = a.step(evaluate).confidences
    for _ in range(15):
        a.step(evaluate)
    state = a.state_dict()
    mid = a.step(evaluate).confidences
    for _ in range(15):
        a.step(evaluate)
    assert min(a.elites(), key=lambda e: e.confidence).confidence >= min(first)
    assert np.mean([e.confidence for e in a.elites()]) > np.mean(first)
    b, _ = make(2)
    b.load_state_dict(state)
    assert b.step(evaluate).confidences == mid


def test_confidence_kinds_agree_on_ranking():
    logits = torch.tensor([[2.0, 0.0, 1.0], [0.0, 3.0, 1.0]])
    targets = torch.tensor([0, 1])
    prob = confidence_fitness(logits, targets, "prob")
    assert torch.allclose(prob.sum(), torch.softmax(logits, 1)[[0, 1], [0, 1]].sum()
                          + torch.softmax(logits, 1)[[1, 0], [0, 1]].sum())
    margin = confidence_fitness(logits, targets, "margin")
    assert margin[0, 0] == 1.0 and margin[1, 1] == 2.0 and margin[0, 1] == -2.0
    assert torch.equal(confidence_fitness(logits, targets, "log_prob").argmax(0), prob.argmax(0))


def test_ten_crops_are_corners_centre_and_mirrors():
    images = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    crops = ten_crops(images, 4)
    assert crops.shape == (20, 1, 4, 4)
    assert torch.equal(crops[0], images[0, :, :4, :4]) and torch.equal(crops[2 * 3 + 1], images[1, :, 2:, 2:])
    assert torch.equal(crops[2 * 5], images[0, :, :4, :4].flip(-1))
