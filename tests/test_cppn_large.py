"""The per-genome renderer for large images (cppn.large) against the straightforward one."""
import colorsys
import threading

import numpy as np
import pytest
import torch
from test_cppn import reference_render  # float64, node by node, colorsys for the colours

from evodream.genomes.cppn import CPPN, N_IN, CPPNEncoding, large, reference, render
from evodream.images import hls_to_rgb_

# Float rounding only: against a float64 evaluation the new renderer's largest error on these
# genomes is ~1.4e-5 (the old one's ~1.1e-4: its rounding, amplified by weights up to 10 through
# a few layers, dominates their difference). Both bounds leave room for other platforms' libm.
TOLERANCE = 5e-5   # new renderer against float64
OLD = 3e-4         # new renderer against the old float32 one (reference.render)


def grown(channels, n, generations, seed, **settings):
    encoding = CPPNEncoding(channels, 64, **settings)
    rng = np.random.default_rng(seed)
    population = encoding.random(n, rng)
    for generation in range(generations):
        population = encoding.mutate(population, rng, generation)
    return encoding, population


@pytest.mark.parametrize("channels,colour", [(1, "hls"), (3, "hls"), (3, "hsv"), (3, "rgb")])
def test_matches_the_reference_and_the_batched_renderer(channels, colour, monkeypatch):
    _, fresh = grown(channels, 6, 0, 1, colour=colour)
    encoding, population = grown(channels, 10, 150, 2, colour=colour)
    population = fresh + population
    assert max(g.n_nodes for g in population) >= 15  # grown graphs, with hidden nodes to reuse rows of
    fast = render.render(population, channels, colour, 64)
    truth = torch.stack([reference_render(encoding, g, 64) for g in population])
    assert (fast - truth).abs().max() <= TOLERANCE
    assert (fast - reference.render(population, channels, colour, 64)).abs().max() <= OLD
    assert fast.min() >= 0 and fast.max() <= 1
    monkeypatch.setattr(render, "BATCH_MAX_PIXELS", 1 << 30)  # the batched renderer, at 64 px too
    assert (render.render(population, channels, colour, 64) - fast).abs().max() <= OLD


def test_a_genome_renders_the_same_alone_and_anywhere_in_a_population():
    _, population = grown(3, 8, 120, 3)
    together = render.render(population, 3, "hls", 96)
    for i in (0, 5, 7):
        assert torch.equal(render.render([population[i]], 3, "hls", 96)[0], together[i])
    shuffled = [population[i] for i in (7, 2, 5, 0)]
    assert torch.equal(render.render(shuffled, 3, "hls", 96), together[[7, 2, 5, 0]])


def test_renders_do_not_depend_on_what_the_thread_rendered_before():
    # The scratch rows are kept per thread: other sizes, bigger genomes, other inputs or other
    # threads' renders in between must leave every image as a fresh thread would make it.
    _, small = grown(3, 4, 5, 4)
    _, big = grown(3, 4, 150, 5)
    other = render.grid(96) * 0.5  # the same size, other inputs

    def fresh_thread(job):
        result = {}
        thread = threading.Thread(target=lambda: result.update(images=job()))
        thread.start()
        thread.join()
        return result["images"]

    def with_other_inputs():
        out = torch.empty(len(small), 3, 96 * 96)
        large.render_each(small, out, "hls", other)
        return out

    first = fresh_thread(lambda: render.render(small, 3, "hls", 96))
    expected_other = fresh_thread(with_other_inputs)
    assert not torch.equal(expected_other.view_as(first), first)
    render.render(big, 3, "hls", 96)
    render.render(big, 3, "rgb", 64)
    assert torch.equal(render.render(small, 3, "hls", 96), first)
    assert torch.equal(with_other_inputs(), expected_other)
    assert torch.equal(render.render(small, 3, "hls", 96), first)


def genome(acts, n_outputs, edges):
    src, dst, weight = zip(*edges) if edges else ((), (), ())
    return CPPN(np.array(acts, dtype=np.int8), n_outputs, np.array(src, dtype=np.int32),
                np.array(dst, dtype=np.int32), np.array(weight, dtype=np.float32))


# Graphs with the cases plan() folds: constants (bias-fed or unfed nodes, also as outputs),
# a node read by several later ones (rows reused only after the last reader), big weights.
@pytest.mark.parametrize("colour", ["hls", "hsv", "rgb"])
@pytest.mark.parametrize("case", [
    # hidden 4 (gaussian) fed by the bias only: a constant; output 7 fed by nothing
    ([2, 0, 4, 3], [(3, 4, 0.7), (4, 5, 2.0), (0, 5, 1.5), (1, 6, -3.0), (2, 6, 1.0), (4, 6, 0.5)]),
    # a chain of hidden nodes, node 4 read by every later node, saturating weights
    ([1, 2, 5, 0, 1, 2, 4], [(0, 4, 9.5), (1, 4, -8.0), (4, 5, 10.0), (2, 5, -10.0), (4, 6, 7.0),
                             (5, 6, 3.0), (3, 6, -2.0), (4, 7, 1.0), (6, 7, 2.0), (5, 8, -4.0),
                             (4, 9, 0.3), (7, 9, 6.0), (3, 10, 1.0), (6, 10, -9.0)]),
    # every output a different activation, all inputs to all outputs
    ([0, 3, 4], [(s, d, w) for s, d, w in zip([0, 1, 2, 3] * 3, [4] * 4 + [5] * 4 + [6] * 4,
                                               np.linspace(-6, 6, 12))]),
])
def test_folded_graphs_match_the_reference(case, colour):
    acts, edges = case
    g = genome(acts, 3, edges)
    fast = render.render([g], 3, colour, 64)
    assert (fast[0] - reference_render(CPPNEncoding(3, 64, colour=colour), g, 64)).abs().max() <= TOLERANCE
    assert (fast - reference.render([g], 3, colour, 64)).abs().max() <= OLD
    assert fast.min() >= 0 and fast.max() <= 1


def test_grey_constant_image():
    g = genome([1], 1, [(N_IN - 1, N_IN, 0.8)])  # sigmoid of the bias: one grey level everywhere
    image = render.render([g], 1, "hls", 64)
    assert torch.allclose(image, torch.full_like(image, 1 / (1 + np.exp(-0.8))), atol=1e-6)


def test_hls_conversion_of_signed_values():
    # Every hue, lightness and saturation corner: h on a fine grid (the ramps' breakpoints at
    # multiples of 1/12 included), l and s at their ends and in between.
    h = np.linspace(-1, 1, 241)
    ends = np.array([-1, -0.999, -0.5, 0, 0.3, 0.999, 1])
    vh, vl, vs = (a.ravel() for a in np.meshgrid(h, ends, ends, indexing="ij"))
    values = torch.from_numpy(np.stack([vh, vl, vs]).astype(np.float32))
    pixels = values.shape[1]
    image = values.clone()
    rows = image.unbind(0)
    scratch = torch.empty(large.ColourScratch.ROWS, pixels)
    large.hls_signed_(image, rows, [r.numpy() for r in rows],
                      large.ColourScratch(scratch.unbind(0), list(scratch.numpy())))
    assert image.min() >= 0 and image.max() <= 1
    unit = (values.double() + 1) / 2
    expected = np.array([colorsys.hls_to_rgb(*unit[:, k].tolist()) for k in range(pixels)]).T
    assert np.abs(image.numpy() - expected).max() < 1e-6
    old = hls_to_rgb_(((values + 1) / 2).clamp(0, 1))
    assert (image - old).abs().max() < 1e-6
