import numpy as np
import pytest

from evodream.errors import EvodreamError
from evodream.genomes.direct import DirectEncoding, polynomial_mutation, sbx_crossover


def test_random_population_shape_and_range():
    enc = DirectEncoding(3, 16)
    pop = enc.random(5, np.random.default_rng(0))
    assert pop.shape == (5, 3, 16, 16) and pop.dtype == np.float32
    assert pop.min() >= 0 and pop.max() <= 1
    images = enc.render(pop)
    assert tuple(images.shape) == (5, 3, 16, 16)
    assert tuple(enc.render(pop, 64).shape) == (5, 3, 64, 64)


def test_mutation_stays_in_bounds_changes_about_rate_and_leaves_parents():
    rng = np.random.default_rng(1)
    enc = DirectEncoding(1, 28, mutation_rate=0.1, eta=15)
    parents = enc.random(200, rng)
    before = parents.copy()
    children = enc.mutate(parents, rng)
    assert np.array_equal(parents, before)
    assert children.min() >= 0 and children.max() <= 1
    changed = (children != parents).mean()
    assert 0.08 < changed < 0.12
    # Extreme genes still mutate inside the bounds.
    edges = polynomial_mutation(np.tile(np.array([0.0, 1.0], np.float32), 500), rng, 1.0, 15.0)
    # Deb's formula moves a gene at a bound only inwards: about half the draws leave it there.
    assert edges.min() >= 0 and edges.max() <= 1 and 0.4 < (edges != np.tile([0.0, 1.0], 500)).mean() < 0.6


def test_strength_scales_each_genomes_rate():
    rng = np.random.default_rng(2)
    enc = DirectEncoding(1, 28, mutation_rate=0.1)
    parents = enc.random(2, rng)
    children = enc.mutate(np.repeat(parents[:1], 2, axis=0), rng, strength=np.array([0.1, 5.0]))
    changed = (children != parents[:1]).reshape(2, -1).mean(axis=1)
    assert changed[0] < 0.03 and changed[1] > 0.4


def test_rate_halves_every_k_generations():
    enc = DirectEncoding(1, 4, mutation_rate=0.1, halve_every=1000)
    assert enc.rate_at(0) == 0.1 and enc.rate_at(999) == 0.1 and enc.rate_at(2500) == 0.025


def test_sbx_child_lies_between_parents_mostly_and_in_bounds():
    rng = np.random.default_rng(3)
    a, b = np.zeros((50, 1, 8, 8), np.float32), np.ones((50, 1, 8, 8), np.float32)
    child = sbx_crossover(a, b, rng)
    assert child.min() >= 0 and child.max() <= 1 and 0.3 < child.mean() < 0.7


def test_cross_share_swaps_in_crossed_children_at_about_the_rate_and_leaves_the_rest():
    rng = np.random.default_rng(5)
    enc = DirectEncoding(1, 8)
    first, second = np.zeros((400, 1, 8, 8), np.float32), np.ones((400, 1, 8, 8), np.float32)
    assert enc.cross_share(first, second, 0.0, rng) is first
    mixed = enc.cross_share(first, second, 0.25, rng)
    untouched = (mixed == 0).all(axis=(1, 2, 3))
    assert 70 < (~untouched).sum() < 130
    assert (mixed[~untouched] < 1).any(axis=(1, 2, 3)).all()  # children of both, not copies of second
    assert not (enc.cross_share(first, second, 1.0, rng) == 0).all(axis=(1, 2, 3)).any()


def test_json_round_trip_is_exact():
    enc = DirectEncoding(3, 8)
    genome = enc.random(1, np.random.default_rng(4))[0]
    assert np.array_equal(enc.from_json(enc.to_json(genome)), genome)


@pytest.mark.parametrize("mangle", [
    lambda d: d.update(encoding="cppn"),
    lambda d: d.update(shape=[1, 8, 8]),
    lambda d: d.update(pixels_f32_base64="not base64!"),
    lambda d: d.pop("shape"),
])
def test_invalid_json_is_rejected(mangle):
    enc = DirectEncoding(3, 8)
    data = enc.to_json(enc.random(1, np.random.default_rng(5))[0])
    mangle(data)
    with pytest.raises(EvodreamError):
        enc.from_json(data)


def test_out_of_range_pixels_are_rejected():
    enc = DirectEncoding(1, 2)
    data = enc.to_json(np.full((1, 2, 2), 2.0, np.float32))
    with pytest.raises(EvodreamError, match=r"\[0, 1\]"):
        enc.from_json(data)
