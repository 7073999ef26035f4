import json

import numpy as np
import pytest
import torch

from evodream.cli import main
from evodream.config import EvolveConfig, from_mapping, validate
from evodream.errors import EvodreamError
from evodream.objectives import Objective
from evodream.objectives.priors import IMAGE_PRIORS, PRIORS, distance, naturalness, parse_priors, prior_terms
from evodream.photos import photo


@pytest.fixture(scope="module")
def colour_cases():
    photos = torch.cat([photo(name, 64) for name in ("chelsea", "coffee", "astronaut", "rocket")])
    noise = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    flat = torch.full((4, 3, 64, 64), 0.5)
    return photos, noise, flat


@pytest.fixture(scope="module")
def digits():
    from evodream.classifiers.lenet import mnist_split

    (_, _), (x, y) = mnist_split()
    return x[:20], y[:20]


@pytest.mark.parametrize("name", IMAGE_PRIORS)
def test_each_prior_ranks_photos_above_noise_and_flat(name, colour_cases):
    photos, noise, flat = colour_cases
    natural = PRIORS[name](photos)
    assert natural.shape == (4,)
    assert natural.min() > PRIORS[name](noise).max()
    assert natural.min() > PRIORS[name](flat).max()


@pytest.mark.parametrize("name", IMAGE_PRIORS)
def test_each_prior_ranks_digits_above_noise_and_flat_for_grey_images(name, digits):
    x, _ = digits
    noise = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    flat = torch.full((4, 1, 28, 28), 0.5)
    assert PRIORS[name](x).mean() > PRIORS[name](noise).max()
    assert PRIORS[name](x).mean() > PRIORS[name](flat).max()


@pytest.mark.parametrize("channels,size", [(3, 48), (1, 28)])
@pytest.mark.parametrize("name", IMAGE_PRIORS)
def test_gradients_flow_through_every_image_prior(name, channels, size):
    images = torch.rand(3, channels, size, size, generator=torch.Generator().manual_seed(2)).requires_grad_()
    PRIORS[name](images).sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_robust_prior_needs_the_classifier_and_gives_gradients_through_objective(lenet, digits):
    with pytest.raises(EvodreamError, match="needs the classifier"):
        PRIORS["robust"](torch.rand(1, 1, 28, 28))
    x, y = digits
    target = int(y[0])
    objective = Objective(lenet, [target], priors={"robust": 1.0})
    plain = Objective(lenet, [target])
    noise = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    # A real digit keeps its class under small shifts and zooms; noise does not.
    column = torch.tensor([target])
    robust = objective.robust_prior(torch.cat([x[:1], noise]), column)[:, 0]
    assert robust[0] > robust[1:].max()
    images = noise.clone().requires_grad_()
    scores = objective.evaluate(images)
    scores.fitness.sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    assert torch.allclose(scores.fitness,
                          plain.evaluate(noise).fitness + objective.robust_prior(noise, column),
                          atol=1e-5)


def test_naturalness_is_in_unit_interval_and_ranks_photos_first(colour_cases):
    photos, noise, flat = colour_cases
    scores = [naturalness(x)
              for x in (photos, noise, flat, torch.zeros(2, 3, 64, 64), torch.ones(2, 3, 64, 64))]
    for s in scores:
        assert ((s > 0) & (s <= 1)).all()
    assert scores[0].min() > 0.9 and scores[1].max() < 0.5 and scores[2].max() < 0.5


def test_priors_are_zero_inside_the_natural_range_and_negative_outside(colour_cases):
    photos, noise, _ = colour_cases
    assert (distance("spectrum", photos) == 0).all()
    assert (PRIORS["tv"](noise) < -1).all()  # over one natural spread off: weights ~0.1-1 matter


def test_prior_terms_is_the_weighted_sum(colour_cases):
    _, noise, _ = colour_cases
    expected = 0.5 * PRIORS["tv"](noise) + 2.0 * PRIORS["colour"](noise)
    assert torch.allclose(prior_terms(noise, {"tv": 0.5, "colour": 2.0, "spectrum": 0.0}), expected)


def test_objective_adds_image_priors_to_every_target(lenet):
    images = torch.rand(5, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    with_priors = Objective(lenet, [1, 7], priors="tv=0.5,gradient=1").score(images)
    without = Objective(lenet, [1, 7]).score(images)
    extra = (0.5 * PRIORS["tv"](images) + PRIORS["gradient"](images)).numpy()
    assert np.allclose(with_priors.fitness, without.fitness + extra[:, None], atol=1e-5)
    assert np.array_equal(with_priors.confidence, without.confidence)


@pytest.mark.parametrize("engine", ["torch", "onnxruntime"])
@pytest.mark.parametrize("kind", ["log_prob", "prob", "margin"])
def test_evolution_scores_agree_with_the_differentiable_objective(kind, engine):
    """score() (numpy probabilities; no torch at all for a plain (log-)probability fitness) gives
    what evaluate() (torch, as gradient ascent uses it) gives, on either engine."""
    from evodream.classifiers import load_classifier
    from evodream.classifiers.onnx_engine import onnxruntime_version

    if engine == "onnxruntime" and onnxruntime_version() is None:
        pytest.skip("onnxruntime is not installed")
    classifier = load_classifier("lenet-mnist", engine=engine)
    images = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(5))
    for priors in (None, "tv=0.5"):
        objective = Objective(classifier, [0, 3, 9], kind=kind, priors=priors)
        scored = objective.score(images)
        with torch.no_grad():
            expected = objective.evaluate(images)
        assert scored.fitness.dtype == scored.confidence.dtype == np.float32
        assert scored.fitness.shape == scored.confidence.shape == (7, 3)
        assert np.allclose(scored.confidence, expected.confidence.numpy(), rtol=1e-4, atol=1e-7)
        assert np.allclose(scored.fitness, expected.fitness.numpy(), rtol=1e-4, atol=1e-5)
        # Direct genomes reach the classifier as the array itself: the same scores as the tensor.
        as_array = objective.score(images.numpy())
        assert np.array_equal(as_array.fitness, scored.fitness)
        assert np.array_equal(as_array.confidence, scored.confidence)
    assert classifier.queries == 2 * 3 * 7  # every path counts its images


@pytest.mark.parametrize("text,message", [
    ("smooth=1", "unknown prior 'smooth'"),
    ("tv=-0.5", "weights must be from 0 to 1,000,000"),
    ("tv=abc", "not a number"),
    ("tv", "has no weight"),
    ("tv=inf", "must be from 0 to"),
    ("tv=nan", "must be from 0 to"),
    ("spectrum=1e300", "must be from 0 to"),
    ({"tv": -1}, "must be from 0 to"),
])
def test_parse_priors_rejects_bad_input(text, message):
    with pytest.raises(EvodreamError, match=message):
        parse_priors(text)


def test_parse_priors_reads_strings_and_toml_tables():
    assert parse_priors("tv=0.1, spectrum=1") == {"tv": 0.1, "spectrum": 1.0}
    assert parse_priors({"colour": 1, "robust": 0.5}) == {"colour": 1.0, "robust": 0.5}
    assert parse_priors(None) == {} and parse_priors("") == {}


def test_config_validates_priors_from_toml(tmp_path):
    with pytest.raises(EvodreamError, match="unknown prior"):
        validate(from_mapping({"priors": {"blur": 1.0}}))
    with pytest.raises(EvodreamError, match="drop --prior"):
        validate(EvolveConfig(algorithm="nsga2", priors={"tv": 1.0}))
    config_file = tmp_path / "run.toml"
    config_file.write_text("model = 'lenet-mnist'\n[priors]\ntv = 0.2\ncolour = 1\n")
    from evodream.config import load_toml

    assert validate(from_mapping(load_toml(config_file))).priors == {"tv": 0.2, "colour": 1}


@pytest.mark.parametrize("flag", ["tv=-1", "sharpness=1", "tv", "tv=x"])
def test_cli_rejects_bad_prior_with_one_line(flag, capsys, tmp_path):
    assert main(["evolve", "--prior", flag, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("evodream: error:") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_evolve_records_naturalness_of_every_elite(tmp_path):
    from evodream.evolve import evolve

    config = EvolveConfig(model="lenet-mnist", target="2,5", max_evals=300, goal=None, threads=1,
                          priors={"tv": 0.5, "spectrum": 0.5})
    result = evolve(config, tmp_path / "run", progress=False)
    records = result.run.elite_records()
    assert len(records) == 2
    for record in records:
        assert 0 < record["naturalness"] <= 1
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["objective"]["priors"] == {"tv": 0.5, "spectrum": 0.5}
