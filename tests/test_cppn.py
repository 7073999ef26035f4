"""The CPPN encoding: rendering, mutation, determinism and genome files."""
import colorsys
import copy
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import evodream.genomes.cppn as cppn
import evodream.genomes.cppn.render as cppn_render
from evodream.errors import EvodreamError
from evodream.genomes.cppn import ACTIVATIONS, N_IN, CPPNEncoding
from evodream.genomes.cppn.crossover import superimpose
from evodream.genomes.cppn.network import CPPN


def evolved(encoding, n=12, generations=40, seed=0):
    rng = np.random.default_rng(seed)
    population = encoding.random(n, rng)
    for generation in range(generations):
        population = encoding.mutate(population, rng, generation)
    return population


def arrays(genome):
    return (genome.acts.tolist(), genome.n_outputs, genome.src.tolist(), genome.dst.tolist(),
            genome.weight.tolist(), genome.weight.dtype)


def check_valid(encoding, genome):
    n = genome.n_nodes
    out_start = n - genome.n_outputs
    assert genome.n_outputs == encoding.channels
    assert genome.acts.dtype == np.int8 and genome.src.dtype == np.int32 and genome.dst.dtype == np.int32
    assert genome.weight.dtype == np.float32
    assert len(genome.src) == len(genome.dst) == len(genome.weight)
    assert np.all(genome.src < genome.dst)                      # acyclic: edges go forward in the order
    assert np.all(genome.src >= 0) and np.all(genome.dst < n)   # endpoints exist
    assert np.all(genome.dst >= N_IN)                           # nothing feeds an input
    assert np.all(genome.src < out_start)                       # outputs feed nothing
    assert len(set(zip(genome.src.tolist(), genome.dst.tolist()))) == len(genome.src)
    assert np.all(np.abs(genome.weight) <= encoding.weight_range) and np.isfinite(genome.weight).all()
    assert np.all((genome.acts >= 0) & (genome.acts < len(ACTIVATIONS)))
    assert np.all(genome.acts[out_start - N_IN:] < len(cppn.OUTPUT_ACTIVATIONS))
    assert n <= encoding.max_nodes and len(genome.src) <= encoding.max_connections


def reference_render(encoding, genome, size):
    """Straightforward float64 evaluation, node by node, with colorsys for the colour modes."""
    coords = (np.arange(size) + 0.5) * 2 / size - 1
    y, x = np.meshgrid(coords, coords, indexing="ij")
    values = [x, y, np.sqrt(x * x + y * y), np.ones_like(x)]
    funcs = [np.sin, lambda z: 2 / (1 + np.exp(-z)) - 1, lambda z: 2 * np.exp(-z * z) - 1,
             lambda z: np.clip(z, -1, 1), np.tanh, lambda z: np.minimum(np.abs(z), 1)]
    for j, act in enumerate(genome.acts.tolist(), start=N_IN):
        z = np.zeros_like(x)
        for s, d, w in zip(genome.src, genome.dst, genome.weight):
            if d == j:
                z = z + float(w) * values[s]
        values.append(funcs[act](z))
    out = np.clip((np.stack(values[-genome.n_outputs:]) + 1) / 2, 0, 1)
    if genome.n_outputs == 3 and encoding.colour != "rgb":
        convert = colorsys.hls_to_rgb if encoding.colour == "hls" else colorsys.hsv_to_rgb
        out = np.array([convert(*out[:, i, j]) for i in range(size)
                        for j in range(size)]).T.reshape(3, size, size)
    return torch.from_numpy(out).float()


# -- rendering --------------------------------------------------------------------------------

@pytest.mark.parametrize("channels,colour", [(1, "hls"), (3, "hls"), (3, "hsv"), (3, "rgb")])
def test_render_shape_and_range(channels, colour):
    encoding = CPPNEncoding(channels, 28, colour=colour)
    population = evolved(encoding, n=6, generations=20)
    for size in (None, 1, 7, 64):
        images = encoding.render(population, size)
        s = 28 if size is None else size
        assert images.shape == (6, channels, s, s) and images.dtype == torch.float32
        assert torch.isfinite(images).all() and images.min() >= 0 and images.max() <= 1
    assert encoding.render([], 28).shape == (0, channels, 28, 28)


@pytest.mark.parametrize("channels,colour", [(1, "hls"), (3, "hls"), (3, "hsv"), (3, "rgb")])
def test_render_matches_reference(channels, colour):
    encoding = CPPNEncoding(channels, 9, colour=colour)
    population = evolved(encoding, n=6, generations=30, seed=3)
    images = encoding.render(population)
    for genome, image in zip(population, images):
        assert torch.allclose(image, reference_render(encoding, genome, 9), atol=1e-4)


def test_batched_and_per_genome_renderers_agree(monkeypatch):
    encoding = CPPNEncoding(3, 32)
    population = evolved(encoding, n=10, generations=40, seed=5)
    batched = encoding.render(population)
    monkeypatch.setattr(cppn_render, "BATCH_MAX_PIXELS", 1)
    calls = []
    per_genome = cppn_render.render_each
    monkeypatch.setattr(cppn_render, "render_each", lambda *args: calls.append(1) or per_genome(*args))
    each = encoding.render(population)
    assert calls  # the switch really took the per-genome path
    assert torch.allclose(batched, each, atol=1e-5)
    # A genome renders the same alone as in a population.
    assert torch.equal(encoding.render(population[3:4])[0], each[3])


def test_batched_renderer_chunks(monkeypatch):
    encoding = CPPNEncoding(1, 16)
    population = evolved(encoding, n=10, generations=30, seed=2)
    whole = encoding.render(population)
    monkeypatch.setattr(cppn_render, "RENDER_CHUNK_FLOATS", 16 * 16 * 20)  # a few genomes per chunk
    assert torch.equal(encoding.render(population), whole)


def test_initial_images_are_varied():
    encoding = CPPNEncoding(1, 32)
    images = encoding.render(encoding.random(40, np.random.default_rng(0)))
    spread = images.flatten(1).std(dim=1)
    assert (spread > 0.05).float().mean() > 0.7     # most are not flat
    saturated = ((images < 0.02) | (images > 0.98)).flatten(1).float().mean(dim=1)
    assert saturated.mean() < 0.6                   # nor mostly pure black and white


def test_high_resolution_render_is_the_same_picture_sharper():
    encoding = CPPNEncoding(3, 64)
    population = evolved(encoding, n=2, generations=25, seed=7)
    small = encoding.render(population)
    large = encoding.render(population, 1024)
    assert large.shape == (2, 3, 1024, 1024) and large.min() >= 0 and large.max() <= 1
    shrunk = F.avg_pool2d(large, 16)
    assert (shrunk - small).abs().mean() < 0.03


# -- mutation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 3])
def test_mutation_keeps_genomes_valid_and_parents_intact(channels):
    encoding = CPPNEncoding(channels, 16, add_node=0.9, add_connection=0.9, change_activation=0.5,
                            max_nodes=30, max_connections=60)
    rng = np.random.default_rng(11)
    population = encoding.random(20, rng)
    for generation in range(100):
        before = [copy.deepcopy(arrays(g)) for g in population]
        children = encoding.mutate(population, rng, generation)
        assert len(children) == len(population)
        assert [arrays(g) for g in population] == before
        for parent, child in zip(population, children):
            assert child is not parent
            assert not np.shares_memory(parent.weight, child.weight)
            assert not np.shares_memory(parent.src, child.src)
            check_valid(encoding, child)
        population = children
    assert max(g.n_nodes for g in population) == 30  # the cap was reached and held


def test_structure_grows():
    encoding = CPPNEncoding(3, 16)
    rng = np.random.default_rng(0)
    population = encoding.random(50, rng)
    assert all(g.n_hidden == 0 and g.n_connections == 4 * 3 for g in population)
    for generation in range(30):
        population = encoding.mutate(population, rng, generation)
    assert np.mean([g.n_hidden for g in population]) > 4
    assert np.mean([g.n_connections for g in population]) > 14
    assert max(int(g.depth().max()) for g in population) > 3


def test_weight_mutation_moves_weights_within_range():
    encoding = CPPNEncoding(1, 8, add_connection=0, delete_connection=0, add_node=0, delete_node=0,
                            change_activation=0, weight_rate=1.0)
    rng = np.random.default_rng(1)
    population = encoding.random(30, rng)
    children = encoding.mutate(population, rng)
    old = np.concatenate([g.weight for g in population])
    new = np.concatenate([g.weight for g in children])
    assert (old != new).mean() > 0.9 and np.abs(new).max() <= 10
    assert 0.05 < np.abs(new - old).mean() < 2  # polynomial steps: small but real
    # Rate 0 leaves every weight bit-identical.
    still = CPPNEncoding(1, 8, add_connection=0, delete_connection=0, add_node=0, delete_node=0,
                         change_activation=0, weight_rate=0.0).mutate(population, rng)
    assert np.array_equal(np.concatenate([g.weight for g in still]), old)


def test_weight_steps_halve_every_k_generations():
    weights_only = dict(add_connection=0, delete_connection=0, add_node=0, delete_node=0,
                        change_activation=0, weight_rate=1.0)
    scheduled = CPPNEncoding(1, 8, halve_every=100, **weights_only)
    assert scheduled.eta_at(0) == 15 and scheduled.eta_at(99) == 15 and scheduled.eta_at(250) == 60
    assert math.isfinite(scheduled.eta_at(10 ** 9))
    population = scheduled.random(40, np.random.default_rng(1))
    def steps(encoding, generation):
        children = encoding.mutate(population, np.random.default_rng(2), generation)
        return np.concatenate([c.weight - p.weight for c, p in zip(children, population)])
    # Past the first period a child is mutated as under twice the eta, with the same draws.
    doubled = CPPNEncoding(1, 8, eta=30, **weights_only)
    assert np.array_equal(steps(scheduled, 100), steps(doubled, 0))
    assert np.array_equal(steps(scheduled, 99), steps(CPPNEncoding(1, 8, **weights_only), 0))
    assert 0.4 < np.abs(steps(scheduled, 100)).mean() / np.abs(steps(scheduled, 0)).mean() < 0.6


def test_strength_scales_mutation():
    encoding = CPPNEncoding(3, 8)
    rng = np.random.default_rng(2)
    population = encoding.random(40, rng)
    frozen = encoding.mutate(population, rng, strength=np.zeros(40))
    assert [arrays(g) for g in frozen] == [arrays(g) for g in population]
    def changes(strength):
        children = encoding.mutate(population, np.random.default_rng(3), strength=strength)
        return sum(arrays(c) != arrays(p) for c, p in zip(children, population))
    assert changes(np.full(40, 0.1)) < changes(np.full(40, 1.0)) <= changes(np.full(40, 10.0))
    with pytest.raises(ValueError):
        encoding.mutate(population, rng, strength=np.ones(3))


def test_each_operator_draws_from_its_own_stream():
    # With the same seed, an operator that fires more or less often must not change what the
    # others do: add_connection on or off leaves change_activation's picks (and, with it on or
    # off, the weight mutation) exactly as they were. One shared stream would shift them.
    def children(**probabilities):
        settings = {key: 0.0 for key in ("add_connection", "delete_connection", "add_node", "delete_node",
                                          "change_activation")}
        encoding = CPPNEncoding(3, 8, **{**settings, **probabilities})
        return population, encoding.mutate(population, np.random.default_rng(1))
    population = evolved(CPPNEncoding(3, 8), n=30, generations=10)  # grown: room for new connections
    _, quiet = children(change_activation=1.0)
    _, busy = children(change_activation=1.0, add_connection=1.0)
    assert all(np.array_equal(a.acts, b.acts) for a, b in zip(quiet, busy))
    assert sum(b.n_connections == a.n_connections + 1 for a, b in zip(quiet, busy)) >= 25
    parents, still = children()
    _, changed = children(change_activation=1.0)
    assert all(np.array_equal(a.weight, b.weight) for a, b in zip(still, changed))
    assert any(not np.array_equal(p.weight, c.weight) for p, c in zip(parents, still))
    assert all(not np.array_equal(a.acts, b.acts) for a, b in zip(still, changed))
    # The caller's generator moves by exactly one number per call, whatever the genomes.
    rng, twin = np.random.default_rng(4), np.random.default_rng(4)
    CPPNEncoding(3, 8).mutate(parents, rng)
    twin.integers(2**63)
    assert rng.random() == twin.random()


def test_same_seed_same_population():
    encoding = CPPNEncoding(3, 16)
    first = [encoding.to_json(g) for g in evolved(encoding, n=20, generations=30, seed=42)]
    second = [encoding.to_json(g) for g in evolved(encoding, n=20, generations=30, seed=42)]
    other = [encoding.to_json(g) for g in evolved(encoding, n=20, generations=30, seed=43)]
    assert first == second
    assert first != other


def test_population_helpers():
    encoding = CPPNEncoding(1, 8)
    population = encoding.random(5, np.random.default_rng(0))
    assert encoding.unstack(encoding.stack(population)) == population
    assert encoding.take(population, 4) is population[4]  # CPPNs are immutable: no copy needed


def test_crossover_lays_the_mates_pattern_over_the_childs():
    encoding = CPPNEncoding(3, 24)
    population = evolved(encoding, n=8, generations=12, seed=3)
    caps = dict(weight_range=encoding.weight_range, max_nodes=encoding.max_nodes,
                max_connections=encoding.max_connections)
    for child, mate in zip(population, population[::-1]):
        crossed = superimpose(child, mate, mate_weight=0.5, **caps)
        check_valid(encoding, crossed)
        assert crossed.n_hidden == child.n_hidden + mate.n_hidden
        assert not torch.equal(encoding.render([crossed]), encoding.render([child]))
        # Weight 0: the mate's nodes hang on connections of weight 0, and the child's picture is unchanged.
        unchanged = superimpose(child, mate, mate_weight=0.0, **caps)
        assert torch.allclose(encoding.render([unchanged]), encoding.render([child]), atol=1e-6)
        # A child whose weights are all 0 takes on its mate's whole picture (z = 0 + z_mate).
        blank = CPPN(mate.acts, mate.n_outputs, mate.src, mate.dst, np.zeros_like(mate.weight))
        taken = superimpose(blank, mate, mate_weight=1.0, **caps)
        assert torch.allclose(encoding.render([taken]), encoding.render([mate]), atol=1e-5)
    child, mate = population[0], population[1]
    full = {**caps, "max_connections": child.n_connections + mate.n_connections - 1}
    assert superimpose(child, mate, mate_weight=0.5, **full) is child  # the union would pass a cap
    rng = np.random.default_rng(0)
    state = copy.deepcopy(rng.bit_generator.state)
    crossed = encoding.crossover(population, population[::-1], rng)
    assert len(crossed) == len(population) and rng.bit_generator.state == state  # draws nothing
    for genome in crossed:
        assert encoding.to_json(encoding.from_json(encoding.to_json(genome))) == encoding.to_json(genome)


def test_settings_and_constructor_checks():
    settings = CPPNEncoding(3, 224, colour="hsv").settings()
    json.dumps(settings)
    assert settings["encoding"] == "cppn" and settings["colour"] == "hsv"
    for key in ("add_connection", "delete_connection", "add_node", "delete_node", "change_activation",
                "weight_rate", "eta", "weight_range", "max_nodes", "max_connections", "init_weight",
                "halve_every"):
        assert key in settings
    for kwargs in ({"colour": "cmyk"}, {"add_node": 1.5}, {"weight_range": 0.0}, {"max_nodes": 3},
                   {"eta": -1.0}, {"init_weight": 20.0}, {"halve_every": -1}):
        with pytest.raises(EvodreamError):
            CPPNEncoding(3, 32, **kwargs)
    with pytest.raises(EvodreamError):
        CPPNEncoding(2, 32)


# -- genome files -----------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 3])
def test_json_round_trip_is_exact(channels):
    encoding = CPPNEncoding(channels, 24)
    population = evolved(encoding, n=15, generations=40, seed=9)
    loaded = [encoding.from_json(json.loads(json.dumps(encoding.to_json(g)))) for g in population]
    for genome, again in zip(population, loaded):
        assert arrays(genome) == arrays(again)
        check_valid(encoding, again)
    assert torch.equal(encoding.render(population), encoding.render(loaded))


def test_from_json_accepts_hidden_nodes_in_any_order():
    encoding = CPPNEncoding(1, 16)
    genome = max(evolved(encoding, n=10, generations=40, seed=4), key=lambda g: g.n_hidden)
    data = encoding.to_json(genome)
    data["hidden"] = data["hidden"][::-1]
    # Renumber the ids too, so they no longer follow the order.
    ids = {node["id"]: 1000 - i for i, node in enumerate(data["hidden"])}
    for node in data["hidden"]:
        node["id"] = ids[node["id"]]
    data["connections"] = [[ids.get(s, s), ids.get(d, d), w] for s, d, w in data["connections"]]
    loaded = encoding.from_json(data)
    check_valid(encoding, loaded)
    assert torch.allclose(encoding.render([loaded]), encoding.render([genome]), atol=1e-6)


def _valid_json():
    encoding = CPPNEncoding(1, 8)
    genome = max(evolved(encoding, n=10, generations=30, seed=1), key=lambda g: g.n_hidden)
    assert genome.n_hidden >= 2
    return encoding, encoding.to_json(genome)


def _hidden_ids(data):
    return [node["id"] for node in data["hidden"]]


BAD = {
    "wrong encoding": lambda d: d.update(encoding="direct"),
    "not a dict": lambda d: ["not", "a", "dict"],
    "missing key": lambda d: d.pop("connections"),
    "hidden not a list": lambda d: d.update(hidden="sine"),
    "node not an object": lambda d: d["hidden"].append(7),
    "string id": lambda d: d["hidden"][0].update(id="4"),
    "bool id": lambda d: d["hidden"][0].update(id=True),
    "duplicate id": lambda d: d["hidden"][1].update(id=d["hidden"][0]["id"]),
    "id of an input": lambda d: d["hidden"][0].update(id=2),
    "unknown activation": lambda d: d["hidden"][0].update(activation="relu"),
    "abs on an output": lambda d: d["outputs"][0].update(activation="abs"),
    "wrong output count": lambda d: d["outputs"].append({"id": 999, "activation": "sine"}),
    "wrong inputs": lambda d: d.update(inputs=["x", "y"]),
    "cycle": lambda d: d["connections"].extend([[_hidden_ids(d)[0], _hidden_ids(d)[1], 0.5],
                                                [_hidden_ids(d)[1], _hidden_ids(d)[0], 0.5]]),
    "self loop": lambda d: d["connections"].append([_hidden_ids(d)[0], _hidden_ids(d)[0], 0.5]),
    "dangling source": lambda d: d["connections"].append([77, d["outputs"][0]["id"], 0.5]),
    "dangling target": lambda d: d["connections"].append([0, 77, 0.5]),
    "into an input": lambda d: d["connections"].append([_hidden_ids(d)[0], 1, 0.5]),
    "out of an output": lambda d: d["connections"].append([d["outputs"][0]["id"], _hidden_ids(d)[0], 0.5]),
    "duplicate connection": lambda d: d["connections"].append(list(d["connections"][0])),
    "nan weight": lambda d: d["connections"][0].__setitem__(2, float("nan")),
    "inf weight": lambda d: d["connections"][0].__setitem__(2, float("inf")),
    "weight out of range": lambda d: d["connections"][0].__setitem__(2, 10.5),
    "string weight": lambda d: d["connections"][0].__setitem__(2, "0.5"),
    "short connection": lambda d: d["connections"].append([0, d["outputs"][0]["id"]]),
    "float endpoint": lambda d: d["connections"][0].__setitem__(0, 0.0),
    "too many nodes": lambda d: d["hidden"].extend({"id": 10_000 + i, "activation": "sine"}
                                                   for i in range(10_000)),
    "too many connections": lambda d: d["connections"].extend([[0, d["outputs"][0]["id"], 0.1]] * 10_001),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_from_json_rejects_bad_genomes(case):
    encoding, data = _valid_json()
    encoding.from_json(copy.deepcopy(data))  # the untouched dict is fine
    replaced = BAD[case](data)
    if case == "not a dict":
        data = replaced
    with pytest.raises(EvodreamError) as info:
        encoding.from_json(data)
    message = str(info.value)
    assert message.startswith("invalid cppn genome") and "\n" not in message and len(message) < 300


def test_from_json_checks_the_channel_count():
    grey, colour = CPPNEncoding(1, 8), CPPNEncoding(3, 8)
    data = colour.to_json(colour.random(1, np.random.default_rng(0))[0])
    with pytest.raises(EvodreamError, match="outputs"):
        grey.from_json(data)


def test_weights_survive_json_exactly():
    encoding = CPPNEncoding(1, 8)
    genome = encoding.random(1, np.random.default_rng(0))[0]
    text = json.dumps(encoding.to_json(genome))
    again = encoding.from_json(json.loads(text))
    assert again.weight.tobytes() == genome.weight.tobytes()
    assert all(math.isfinite(w) for _, _, w in json.loads(text)["connections"])
