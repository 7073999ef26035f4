"""Issue 14: the lowres encoding, the cma emitter and recipe "auto" (toy objectives, no big model)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scripts_loader import load_script

from evodream.config import EvolveConfig
from evodream.errors import EvodreamError
from evodream.genomes import CPPNEncoding, DirectEncoding, LowresEncoding, SpectralEncoding
from evodream.search import CMAEmitter, MapElites, MutationEmitter
from evodream.search.archive import Archive
from evodream.statecheck import BadState

TARGET = np.random.default_rng(5).random((3, 12, 12)).astype(np.float32)


def toy_scores(encoding, population):
    """Two 'classes': look like TARGET, or like its negative. Confidence is a squashed fitness."""
    images = encoding.render(population).numpy()
    fitness = np.stack([-((images - TARGET) ** 2).mean(axis=(1, 2, 3)),
                        -((images - (1 - TARGET)) ** 2).mean(axis=(1, 2, 3))], axis=1)
    return fitness, np.exp(fitness * 20)


def make_search(encoding, kind, seed=0, batch=8):
    emitters = {"cma": lambda: [CMAEmitter(2, encoding, goal=0.999)],
                "mutation": lambda: [MutationEmitter(2)],
                "mix": lambda: [MutationEmitter(2), CMAEmitter(2, encoding, goal=0.999)]}[kind]()
    return MapElites(encoding, [0, 1], np.random.default_rng(seed), batch_size=batch, emitters=emitters)


def run(search, generations):
    for _ in range(generations):
        population = search.ask()
        search.tell(population, toy_scores(search.encoding, population))
    return search


def encodings():
    return {"lowres": LowresEncoding(3, 12, grid=4), "cppn": CPPNEncoding(3, 12),
            "direct": DirectEncoding(3, 12), "spectral": SpectralEncoding(3, 12, grid=12)}


@pytest.mark.parametrize("name,kind", [("lowres", "cma"), ("lowres", "mutation"), ("cppn", "cma"),
                                       ("cppn", "mix"), ("direct", "cma"), ("spectral", "cma"),
                                       ("spectral", "mutation")])
def test_each_emitter_improves_a_toy_objective(name, kind):
    search = run(make_search(encodings()[name], kind), 1)
    start = search.fitness.max()
    run(search, 30)
    assert search.fitness.max() > start + 0.01, (start, search.fitness)


@pytest.mark.parametrize("name,kind", [("lowres", "cma"), ("cppn", "mix"), ("spectral", "cma")])
def test_checkpoint_json_round_trip_continues_identically(name, kind):
    straight = run(make_search(encodings()[name], kind, seed=3), 30)
    first = run(make_search(encodings()[name], kind, seed=3), 12)
    state = json.loads(json.dumps(first.state_dict()))
    resumed = make_search(encodings()[name], kind, seed=99)  # its own rng is replaced by the saved one
    resumed.load_state_dict(state)
    run(resumed, 18)
    assert json.dumps(resumed.state_dict()) == json.dumps(straight.state_dict())


def test_same_seed_same_run_other_seed_other_run():
    a, b, c = (json.dumps(run(make_search(LowresEncoding(3, 12, grid=4), "cma", seed=s), 15).state_dict())
               for s in (1, 1, 2))
    assert a == b and a != c


def test_cma_restarts_when_stalled():
    search = make_search(LowresEncoding(3, 12, grid=4), "cma")
    search.emitters[0].patience = 2
    run(search, 1)
    # Scores that never improve on the archive: the emitter must restart every `patience` generations.
    for _ in range(7):
        population = search.ask()
        fitness = np.full((len(population), 2), -1e9)
        search.tell(population, (fitness, np.zeros_like(fitness)))
    assert search.emitters[0].restarts >= 2


def test_cma_follows_unfinished_cells_and_restarts_when_its_cell_is_done():
    encoding = LowresEncoding(3, 12, grid=4)
    archive = Archive(encoding, [0, 1])
    archive.insert(encoding.random(2, np.random.default_rng(0)), np.log([[0.5, 0.01], [0.01, 0.1]]),
                   np.array([[0.5, 0.01], [0.01, 0.1]]), 2)
    emitter = CMAEmitter(2, encoding, goal=0.99)
    rng = np.random.default_rng(0)

    def generation(confidence_of_child):  # ask, tell, insert: child i scores confidence_of_child(i)
        children, info = emitter.ask(archive, 4, rng, 0)
        confidence = np.array([confidence_of_child(i) for i in range(4)])
        emitter.tell(archive, children, np.log(confidence), info)
        archive.insert(children, np.log(confidence), confidence, 0)

    generation(lambda i: [0.6 + 0.1 * i, 0.01])        # children improve cell 0: it is followed
    assert emitter.followed == 0 and emitter.stall == 0
    generation(lambda i: [0.995, 0.01])                  # cell 0 reaches the goal ...
    generation(lambda i: [0.999, 0.01])                  # ... so this ask restarted, from cell 1
    assert emitter.restarts == 1 and emitter._start["cell"] == 1
    assert emitter.stall == 1                            # beating a finished cell does not count
    generation(lambda i: [0.5, 0.1 + 0.1 * i])
    assert emitter.followed == 1 and emitter.stall == 0


def test_cma_takes_turns_between_unfinished_cells_and_resumes_each_ones_es():
    import copy

    encoding = LowresEncoding(3, 12, grid=4)
    archive = Archive(encoding, [0, 1, 2])
    start = np.array([[0.5, 0.01, 0.01], [0.01, 0.1, 0.01], [0.01, 0.01, 0.2]])
    archive.insert(encoding.random(3, np.random.default_rng(0)), np.log(start), start, 3)
    emitter = CMAEmitter(3, encoding, goal=0.99, share=12)  # a turn of 12 evaluations: 3 generations of 4
    rng = np.random.default_rng(0)

    def generation(emitter, archive, rng):  # every child improves the emitter's start cell a little
        children, info = emitter.ask(archive, 4, rng, 0)
        cell = emitter._start["cell"]
        confidence = archive.confidence[None, :].repeat(4, axis=0)
        confidence[:, cell] += 0.001 * (1 + np.arange(4))
        emitter.tell(archive, children, np.log(confidence), info)
        archive.insert(children, np.log(confidence), confidence, 0)
        return cell, emitter._start["seed"], len(emitter._values), children

    turns = [generation(emitter, archive, rng) for _ in range(7)]
    # A checkpoint with paused ESs continues as the emitter itself does.
    resumed = CMAEmitter(3, encoding, goal=0.99, share=12)
    resumed.load_state_dict(json.loads(json.dumps(emitter.state_dict())))
    twin_archive, twin_rng = copy.deepcopy(archive), copy.deepcopy(rng)
    for _ in range(5):
        turns.append(generation(emitter, archive, rng))
        twin = generation(resumed, twin_archive, twin_rng)
        assert twin[:3] == turns[-1][:3] and np.array_equal(twin[3], turns[-1][3])
    cells = [t[0] for t in turns]
    # Never stalled, never done: still each cell gets a turn of 3 generations before any gets a second ...
    assert all(len(set(cells[i:i + 3])) == 1 for i in range(0, 12, 3))
    assert sorted(cells[i] for i in (0, 3, 6)) == [0, 1, 2]
    # ... and its second turn goes on with the same ES (same seed, its told generations counted on).
    first = next(t for t in turns[:9] if t[0] == cells[9])
    assert turns[9][1] == first[1] and turns[9][2] == 4
    assert emitter.attention.tolist() == [cells.count(c) for c in range(3)] and emitter.restarts == 0
    state = json.loads(json.dumps(emitter.state_dict()))
    state["paused"][0]["cell"] = state["paused"][0]["start"]["cell"] + 1
    with pytest.raises(BadState, match=r"paused\[0\]\.cell"):
        CMAEmitter(3, encoding, goal=0.99).load_state_dict(state)
    # A checkpoint from before the emitter took turns still loads.
    state = emitter.state_dict()
    for key in ("turn", "attention", "paused"):
        del state[key]
    emitter.load_state_dict(json.loads(json.dumps(state)))
    assert emitter.attention.tolist() == [0, 0, 0] and not emitter._paused


def test_cma_turn_lasts_the_same_evaluations_at_any_population():
    encoding = LowresEncoding(3, 12, grid=4)
    for popsize, generations in ((4, 6), (8, 3), (6, 4)):  # a turn of 24 evaluations at each
        archive = Archive(encoding, [0, 1])
        start = np.array([[0.5, 0.01], [0.01, 0.1]])
        archive.insert(encoding.random(2, np.random.default_rng(0)), np.log(start), start, 2)
        emitter = CMAEmitter(2, encoding, goal=0.99, share=24)
        rng, cells = np.random.default_rng(0), []
        for _ in range(2 * generations):
            children, info = emitter.ask(archive, popsize, rng, 0)
            cells.append(emitter._start["cell"])
            emitter.tell(archive, children, np.log(archive.confidence[None, :].repeat(popsize, axis=0)), info)
        assert cells == [cells[0]] * generations + [1 - cells[0]] * generations, popsize


def test_cma_taking_turns_ranks_children_by_its_own_class():
    encoding = LowresEncoding(3, 12, grid=4)
    archive = Archive(encoding, [0, 1])
    start = np.array([[0.5, 0.01], [0.01, 0.1]])
    archive.insert(encoding.random(2, np.random.default_rng(0)), np.log(start), start, 2)
    for share, expected_stall in ((None, 0), (12, 1)):
        emitter = CMAEmitter(2, encoding, goal=0.99, share=share)
        children, info = emitter.ask(archive, 4, np.random.default_rng(0), 0)
        other = 1 - emitter._start["cell"]
        confidence = archive.confidence[None, :].repeat(4, axis=0)
        confidence[:, other] += 0.2  # every child beats the *other* class's elite, none its own
        emitter.tell(archive, children, np.log(confidence), info)
        # CMA-ME follows the other class; a turn for one class does not count it as progress.
        assert emitter.stall == expected_stall and emitter.followed == (other if share is None else 1 - other)


def test_cma_state_is_checked():
    search = run(make_search(LowresEncoding(3, 12, grid=4), "cma"), 3)
    state = json.loads(json.dumps(search.state_dict()))
    state["emitters"][0]["values"][1] = ["x"] * 8
    with pytest.raises(BadState, match=r"values\[1\]"):
        make_search(LowresEncoding(3, 12, grid=4), "cma").load_state_dict(state)
    state = json.loads(json.dumps(search.state_dict()))
    state["emitters"][0]["start"]["cell"] = 7
    with pytest.raises(BadState, match="start.cell"):
        make_search(LowresEncoding(3, 12, grid=4), "cma").load_state_dict(state)


def test_cma_needs_a_parameter_vector():
    from evodream.genomes.base import Encoding

    class NoVector(LowresEncoding):
        vector = Encoding.vector  # the base class's: no parameter vector

    with pytest.raises(EvodreamError, match="parameter vector"):
        CMAEmitter(1, NoVector(3, 12))


def test_lowres_encoding_renders_mutates_and_round_trips():
    encoding = LowresEncoding(3, 32, grid=8)
    rng = np.random.default_rng(0)
    population = encoding.random(5, rng)
    images = encoding.render(population)
    assert images.shape == (5, 3, 32, 32) and 0 < float(images.min()) and float(images.max()) < 1
    children = encoding.mutate(population, rng, strength=np.array([0, 1, 1, 1, 2.0]))
    assert np.array_equal(children[0], population[0]) and not np.array_equal(children[1], population[1])
    genome = encoding.take(population, 2)
    assert np.array_equal(encoding.from_json(json.loads(json.dumps(encoding.to_json(genome)))), genome)
    assert np.array_equal(encoding.with_vector(genome, encoding.vector(genome)), genome)


def test_spectral_genes_are_one_over_f_weighted_cosines():
    from scipy.fft import idctn

    from evodream.genomes.spectral import dct_matrix, frequency_scale

    assert np.allclose(dct_matrix(8) @ dct_matrix(8).T, np.eye(8), atol=1e-12)
    scale = frequency_scale(8)
    assert scale[0, 0] == scale.max() and scale[7, 7] == scale.min() and np.isclose((scale ** 2).mean(), 1)
    encoding = SpectralEncoding(1, 8, grid=8)  # image size = grid: the render is sigmoid(grid)
    genome = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
    expected = 1 / (1 + np.exp(-idctn(genome[0, 0] * scale, norm="ortho")))
    assert np.allclose(encoding.render(genome).numpy()[0, 0], expected, atol=1e-5)


def test_spectral_noise_is_coarser_than_lowres_noise_of_the_same_variance():
    def grid_values(encoding):  # the grid before upsampling (field() at grid size)
        return encoding.field(encoding.random(200, np.random.default_rng(1))).numpy().astype(np.float64)

    spectral = grid_values(SpectralEncoding(3, 16, grid=16))
    lowres = grid_values(LowresEncoding(3, 16, grid=16))
    assert spectral.var() == pytest.approx(1, rel=0.1) and lowres.var() == pytest.approx(1, rel=0.1)

    # Neighbouring cells: independent under lowres, strongly alike under 1/f weighting.
    def neighbour_correlation(values):
        return np.corrcoef(values[..., :-1].ravel(), values[..., 1:].ravel())[0, 1]
    assert abs(neighbour_correlation(lowres)) < 0.05 and neighbour_correlation(spectral) > 0.5


def test_spectral_genomes_are_files_of_their_own():
    spectral, lowres = SpectralEncoding(3, 32, grid=8), LowresEncoding(3, 32, grid=8)
    genome = spectral.random(1, np.random.default_rng(0))[0]
    data = json.loads(json.dumps(spectral.to_json(genome)))
    assert np.array_equal(spectral.from_json(data), genome)
    with pytest.raises(EvodreamError, match="expected 'lowres'"):
        lowres.from_json(data)


@pytest.mark.parametrize("change,message", [
    (lambda d: d.update(shape=[3, 4, 4]), "shape"),
    (lambda d: d.update(encoding="direct"), "expected 'lowres'"),
    (lambda d: d.update(genes_f32_base64="@@"), "invalid lowres genome"),
    (lambda d: d.pop("genes_f32_base64"), "invalid lowres genome"),
])
def test_lowres_rejects_bad_genome_files(change, message):
    encoding = LowresEncoding(3, 32, grid=8)
    data = encoding.to_json(encoding.random(1, np.random.default_rng(0))[0])
    change(data)
    with pytest.raises(EvodreamError, match=message):
        encoding.from_json(data)
    nan = encoding.to_json(np.full((3, 8, 8), np.nan, dtype=np.float32))
    with pytest.raises(EvodreamError, match="finite"):
        encoding.from_json(nan)


@pytest.mark.parametrize("grid,size,cells", [(None, 224, 64), (None, 64, 64), (None, 28, 16), (None, 8, 8),
                                             (16, 224, 16)])
def test_lowres_grid_defaults_to_64_cells_or_16_on_small_images(grid, size, cells):
    from evodream.genomes import ENCODINGS

    config = EvolveConfig(encoding="lowres", lowres_grid=grid).resolved((3, size, 1))
    assert ENCODINGS.entry("lowres").factory(config, 3, size).grid == cells


def test_cppn_with_vector_keeps_topology_and_bounds():
    encoding = CPPNEncoding(3, 12)
    genome = encoding.random(1, np.random.default_rng(0))[0]
    moved = encoding.with_vector(genome, encoding.vector(genome) * 100)
    assert moved.src is genome.src and np.abs(moved.weight).max() <= encoding.weight_range
    assert not np.array_equal(moved.weight, genome.weight)


@pytest.mark.parametrize("model,settings,recipe,encoding,emitters", [
    ((1, 28, 10), {}, "fast", "direct", "mutation"),          # MNIST: unchanged
    ((3, 224, 1), {}, "lowres-cma", "spectral", "cma"),        # one ImageNet class
    ((3, 224, 1), {"encoding": "lowres"}, "lowres-cma", "lowres", "cma"),  # its pixel-basis grid
    ((3, 224, 1000), {}, "cross-cppn", "cppn", "mutation"),    # every ImageNet class
    ((3, 224, 1000), {"encoding": "cppn"}, "fast", "cppn", "mutation"),
    ((3, 224, 11), {"encoding": "direct"}, "fast", "direct", "mutation"),  # the user's choice stands
    ((3, 224, 1), {"encoding": "cppn"}, "fast", "cppn", "mutation"),
    ((3, 224, 1), {"recipe": "cppn-cma"}, "cppn-cma", "cppn", "mutation,cma"),
    ((3, 224, 1), {"algorithm": "nsga2"}, "fast", "direct", "mutation"),  # no emitters, so no CMA
    ((3, 224, 1000), {"algorithm": "ga"}, "fast", "direct", "mutation"),
])
def test_auto_recipe(model, settings, recipe, encoding, emitters):
    config = EvolveConfig(**settings).resolved(model)
    assert (config.recipe, config.encoding, config.emitters) == (recipe, encoding, emitters)
    # Without the model "auto" stays open where the model decides (a sweep's job is then resolved
    # by its run, as `evolve` does), and resolves alike where it does not.
    unknown = EvolveConfig(**settings).resolved()
    if settings.get("encoding") in (None, "lowres") and not {"recipe", "algorithm"} & set(settings):
        assert unknown == EvolveConfig(**settings)  # nothing filled
    else:
        assert (unknown.recipe, unknown.encoding, unknown.emitters) == (recipe, encoding, emitters)


@pytest.mark.parametrize("settings,rate", [
    ({}, 0.1),                                          # cross-cppn, what auto takes for every class
    ({"crossover_rate": 0.0}, 0.0),                     # the user's rate stands, 0 included
    ({"recipe": "paper-cppn"}, 0.0),                    # the paper did not cross
    ({"recipe": "cross-cppn", "crossover_rate": 0.3}, 0.3),
])
def test_crossover_rate_is_the_recipes_unless_given(settings, rate):
    config = EvolveConfig(**settings).resolved((3, 224, 1000))
    assert config.crossover_rate == rate
    mnist = EvolveConfig(**settings).resolved((1, 28, 10))
    assert mnist.crossover_rate == settings.get("crossover_rate", 0.0)


def test_cross_cppn_is_paper_cppn_crossing_a_tenth_with_finer_steps_from_generation_500():
    cross, paper = EvolveConfig(recipe="cross-cppn").resolved(), EvolveConfig(recipe="paper-cppn").resolved()
    assert dataclasses.replace(cross, recipe="paper-cppn", crossover_rate=0.0, halve_every=0) == paper
    assert EvolveConfig(recipe="cross-cppn", halve_every=0).resolved().halve_every == 0  # the user's stands


def test_auto_recipe_takes_cma_with_turns_up_to_the_few_target_limit():
    from evodream.config import AUTO_FEW_TARGETS
    from evodream.search import EMITTERS
    from evodream.search.cma_emitter import TURN_EVALUATIONS

    assert EvolveConfig().resolved((3, 224, AUTO_FEW_TARGETS)).recipe == "lowres-cma"
    assert EvolveConfig().resolved((3, 224, AUTO_FEW_TARGETS + 1)).recipe == "cross-cppn"
    config, encoding = EvolveConfig(recipe="lowres-cma").resolved((3, 12, 1)), LowresEncoding(3, 12, grid=4)
    build = EMITTERS.entry("cma").factory
    assert build(config, encoding, list(range(AUTO_FEW_TARGETS))).share == TURN_EVALUATIONS
    assert build(config, encoding, list(range(AUTO_FEW_TARGETS + 1))).share is None  # CMA-ME


@pytest.mark.parametrize("size,population", [(224, 32), (64, 32), (32, 16), (28, 16)])
def test_lowres_cma_population_follows_the_image_size(size, population):
    assert EvolveConfig().resolved((3, size, 1)).population == (population if size >= 64 else 10)
    config = EvolveConfig(recipe="lowres-cma")
    assert config.resolved((3, size, 1)).population == population
    assert config.resolved().population is None                 # left to the run, which knows the size
    assert EvolveConfig(recipe="lowres-cma", population=8).resolved((3, size, 1)).population == 8


def test_manifest_records_the_resolved_recipe(tmp_path):
    from evodream.evolve import evolve

    result = evolve(EvolveConfig(target="3", generations=2, threads=1), tmp_path / "run", progress=False)
    config = result.run.manifest["config"]
    assert (config["recipe"], config["encoding"], config["emitters"]) == ("fast", "direct", "mutation")


def test_efficiency_report_only_reads_what_was_run_and_refuses_an_empty_folder(tmp_path, capsys):
    from evodream.evolve import evolve

    efficiency = load_script("efficiency")
    assert efficiency.main(["--report-only", "--parts", "c", "--out", str(tmp_path)]) == 2
    assert "holds none of the runs" in capsys.readouterr().err and not (tmp_path / "efficiency.md").exists()
    # One MNIST seed made by hand in the benchmark's layout: the report reads it, skips the rest.
    result = evolve(EvolveConfig(recipe="fast", target="all", goal=0.9999, max_evals=100_000, seed=0,
                                 threads=1), tmp_path / "c" / "fast" / "seed0", progress=False)
    assert efficiency.main(["--report-only", "--parts", "c", "--methods-c", "fast,paper", "--out",
                            str(tmp_path)]) == 0
    report = (tmp_path / "efficiency.md").read_text()
    reached = json.loads((result.run.path / "reached.json").read_text())["first_evaluation"]["0.9999"]
    assert f"| fast | {max(reached):,} | 1/1 | {max(reached):,} |" in report and "| paper |" not in report


def test_efficiency_part_a_gives_the_median_over_seeds_and_each_seed(tmp_path):
    import csv

    from evodream.evolve import evolve

    efficiency = load_script("efficiency")
    medians = {}
    for seed, name in ((0, "all"), (1, "all-seed1"), (2, "all-seed2")):  # --seed 0 keeps the name "all"
        budget = 60 if seed == 2 else 100  # seed 2 stops short of the 100 budget
        run = evolve(EvolveConfig(recipe="fast", target="all", goal=None, max_evals=budget, seed=seed,
                                  threads=1), tmp_path / "a" / "fast" / name, progress=False)
        with open(run.run.path / "metrics.csv", newline="") as handle:
            rows = list(csv.DictReader(handle))
        medians[seed] = {b: next((float(r["median"]) for r in rows if int(r["evaluations"]) >= b), None)
                         for b in (50, 100)}
    assert efficiency.main(["--report-only", "--parts", "a", "--methods-a", "fast", "--seeds-a", "0,1,2",
                            "--budgets-a", "50,100", "--model", "lenet-mnist", "--out", str(tmp_path)]) == 0
    report = (tmp_path / "efficiency.md").read_text()
    at_50 = [medians[s][50] for s in (0, 1, 2)]
    at_100 = [medians[s][100] for s in (0, 1)]
    assert medians[2][100] is None
    assert "(a) every class of lenet-mnist in one run" in report  # not "1,000 classes": it has ten
    expected = (f"| fast | {np.median(at_50) * 100:.2f}% (seeds 0, 1, 2: "
                + " / ".join(f"{v * 100:.2f}" for v in at_50) + f") | {np.median(at_100) * 100:.2f}% "
                "(seeds 0, 1: " + " / ".join(f"{v * 100:.2f}" for v in at_100) + ") |")
    assert expected in report, report


def test_efficiency_gives_each_method_a_colour_of_its_own():
    efficiency = load_script("efficiency")  # a method without one would fail only when plotted
    assert set(efficiency.COLOURS) == set(efficiency.METHODS)
    assert len(set(efficiency.COLOURS.values())) == len(efficiency.COLOURS)


def _cut_mnist_run(folder, max_evals: int, seed: int = 0):
    """A part-(c) fast run stopped at `max_evals` with no summary, as a kill leaves it."""
    from evodream.evolve import evolve

    evolve(EvolveConfig(recipe="fast", target="all", goal=0.9999, max_evals=max_evals, seed=seed, threads=1),
           folder, progress=False)
    (folder / "summary.json").unlink()


def _metric_rows(folder):
    """A run's metrics.csv without its wall-clock column: equal for equal runs."""
    import csv

    with open(folder / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(handle)]


def test_efficiency_resumes_a_run_cut_short_instead_of_starting_it_again(tmp_path):
    efficiency = load_script("efficiency")
    args = ["--parts", "c", "--methods-c", "fast", "--seeds-c", "0", "--cap-c", "2000"]
    assert efficiency.main([*args, "--out", str(tmp_path / "whole")]) == 0
    # The same run cut short: its checkpoint at 500 evaluations, no summary (as after a kill).
    cut = tmp_path / "cut" / "c" / "fast" / "seed0"
    _cut_mnist_run(cut, 500)
    (cut / "notes.txt").write_text("the user's")  # gone if the folder were wiped and the run begun again
    assert efficiency.main([*args, "--out", str(tmp_path / "cut")]) == 0
    assert (cut / "notes.txt").read_text() == "the user's" and (cut / "summary.json").exists()

    whole = _metric_rows(tmp_path / "whole" / "c" / "fast" / "seed0")
    assert _metric_rows(cut) == whole and len(whole) == 200
    assert ((tmp_path / "cut" / "efficiency.md").read_text().split("| fast |")[1].splitlines()[0]
            == (tmp_path / "whole" / "efficiency.md").read_text().split("| fast |")[1].splitlines()[0])


def test_efficiency_jobs_make_the_same_runs_in_processes_of_their_own(tmp_path, capsys):
    efficiency = load_script("efficiency")
    args = ["--parts", "c", "--methods-c", "fast", "--seeds-c", "0,1", "--cap-c", "600"]
    assert efficiency.main([*args, "--out", str(tmp_path / "one")]) == 0
    # Seed 0 cut short (a checkpoint at 300 evaluations, no summary): --jobs resumes it.
    cut = tmp_path / "two" / "c" / "fast" / "seed0"
    _cut_mnist_run(cut, 300)
    capsys.readouterr()
    assert efficiency.main([*args, "--jobs", "2", "--out", str(tmp_path / "two")]) == 0
    log = capsys.readouterr().out
    assert f"resume {cut}" in log and f"run {tmp_path / 'two' / 'c' / 'fast' / 'seed1'}" in log

    for seed in (0, 1):
        one = _metric_rows(tmp_path / "one" / "c" / "fast" / f"seed{seed}")
        assert _metric_rows(tmp_path / "two" / "c" / "fast" / f"seed{seed}") == one and len(one) == 60
    assert ((tmp_path / "two" / "efficiency.md").read_text().split("| fast |")[1]
            == (tmp_path / "one" / "efficiency.md").read_text().split("| fast |")[1])


@pytest.mark.parametrize("jobs, code", [("1", 2), ("2", 1)])
def test_efficiency_reports_a_run_that_cannot_start_in_one_line(tmp_path, capsys, jobs, code):
    efficiency = load_script("efficiency")
    assert efficiency.main(["--parts", "b", "--methods-b", "fast", "--classes", "1", "--cap-b", "100",
                            "--model", "no-such-model", "--jobs", jobs, "--out", str(tmp_path)]) == code
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "no-such-model" in error, error
    assert jobs == "1" or "b/fast/905" in error  # --jobs: which run failed
    assert not (tmp_path / "efficiency.md").exists()
