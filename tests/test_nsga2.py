import csv
import json
import random

import numpy as np
import pytest

from evodream.config import EvolveConfig
from evodream.evaluator import Evaluator
from evodream.genomes import CPPNEncoding, DirectEncoding
from evodream.objectives import Objective
from evodream.search.nsga2 import NSGA2


class _Stepper:
    """An NSGA2 search with its evaluator: step() as the loop would run it."""

    def __init__(self, lenet, seed, encoding=None, targets=(3, 8)):
        random.seed(seed)
        encoding = encoding or DirectEncoding(1, 28, mutation_rate=0.05, eta=2.0)
        self.search = NSGA2(encoding, list(targets), np.random.default_rng(seed), population_size=12)
        self.evaluate = Evaluator(encoding, Objective(lenet, list(targets)), needs=self.search.needs)

    def step(self):
        return self.search.step(self.evaluate)

    def __getattr__(self, name):
        return getattr(self.search, name)


def _nsga2(lenet, seed, encoding=None, targets=(3, 8)):
    return _Stepper(lenet, seed, encoding, targets)


def _dominated(a, b):
    """True when b is at least as good as a on both objectives and better on one."""
    return all(y >= x for x, y in zip(a, b)) and any(y > x for x, y in zip(a, b))


def test_short_run_returns_a_non_dominated_front_per_target(lenet):
    search = _nsga2(lenet, seed=0)
    first = search.step().confidences
    for _ in range(15):
        record = search.step()
    assert record.evaluations == 2 * 12 * 16
    assert all(b >= a for a, b in zip(first, record.confidences))  # the most confident is never lost
    fronts = search.pareto_front()
    assert [t for t, _ in fronts] == [3, 8]
    for _, front in fronts:
        points = [ind.fitness.values for ind in front]
        assert len(points) >= 2
        assert not any(_dominated(p, q) for p in points for q in points)
        assert all(0 < n <= 1 for _, n in points)
    # Every other member of a population is dominated by some point of its front.
    for (target, front), pop in zip(fronts, search.populations):
        for ind in pop:
            if ind not in front:
                assert any(_dominated(ind.fitness.values, f.fitness.values) for f in front)
    elites = search.elites()
    assert [e.target for e in elites] == [3, 8]
    assert [e.confidence for e in elites] == [max(ind.confidence for ind in pop)
                                              for pop in search.populations]


def test_state_dict_resume_continues_identically(lenet):
    a = _nsga2(lenet, seed=5, encoding=CPPNEncoding(1, 28))
    for _ in range(6):
        a.step()
    state = json.loads(json.dumps(a.state_dict(), allow_nan=False))  # what a checkpoint holds
    b = _nsga2(lenet, seed=99, encoding=CPPNEncoding(1, 28))
    b.load_state_dict(state)
    for _ in range(6):
        assert a.step().confidences == b.step().confidences
    fa = [[ind.fitness.values for ind in pop] for pop in a.populations]
    fb = [[ind.fitness.values for ind in pop] for pop in b.populations]
    assert fa == fb


def test_nsga2_needs_naturalness_in_its_scores(lenet):
    search = NSGA2(DirectEncoding(1, 28), [1], np.random.default_rng(0), population_size=4)
    plain = Evaluator(search.encoding, Objective(lenet, [1]))  # no naturalness
    with pytest.raises(ValueError, match="naturalness"):
        search.step(plain)


def test_evolve_nsga2_saves_the_pareto_front(tmp_path):
    from evodream.evolve import evolve

    config = EvolveConfig(model="lenet-mnist", algorithm="nsga2", target="4", population=12, generations=8,
                          max_evals=None, goal=None, threads=1)
    result = evolve(config, tmp_path / "run", progress=False)
    folder = result.run.path / "pareto"
    with open(folder / "pareto.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) >= 2
    assert all((folder / row["image"]).exists() for row in rows)
    assert (folder / "pareto.png").stat().st_size > 1000
    confidences = [float(r["confidence"]) for r in rows]
    assert confidences == sorted(confidences, reverse=True)
    assert result.run.elite_records()[0]["confidence"] == pytest.approx(max(confidences))
