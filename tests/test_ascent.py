"""Gradient ascent (`evodream ascend`) and DeepDream (`evodream dream`)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from evodream.ascend import AscendConfig, ascend
from evodream.cli import main
from evodream.errors import EvodreamError
from evodream.genomes import DirectEncoding
from evodream.objectives import Objective
from evodream.runs import RunFolder
from evodream.search.ascent import AscentSettings, GradientAscent
from evodream.search.deepdream import DreamSettings, LayerObjective, dream, octave_sizes, zoom_in
from evodream.search.imageparam import FourierParam, MaskedAdam, PixelParam, gaussian_blur

TESTS = Path(__file__).parent


def _run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _ascent(lenet, targets, steps, **settings):
    objective = Objective(lenet, targets)
    start = torch.full((len(targets), 1, 28, 28), 0.5)
    search = GradientAscent(objective, start, AscentSettings(**settings), np.random.default_rng(0))
    for _ in range(steps):
        search.step()
    return search, start


# -- the search ---------------------------------------------------------------------------------

@pytest.mark.parametrize("param", ["pixel", "fourier"])
def test_ascent_raises_the_target_confidence(lenet, param):
    targets = [2, 4, 7]
    search, start = _ascent(lenet, targets, 15, param=param, goal=None)
    before = lenet.probs(start)[torch.arange(3), targets]
    after = lenet.probs(
        torch.from_numpy(np.stack([e.genome for e in search.elites()])))[torch.arange(3), targets]
    assert (before < 0.01).all() and (after > 0.9).all(), (before, after)
    # The stored confidence is that of the stored image, as the model saw it.
    assert np.allclose(after.numpy(), [e.confidence for e in search.elites()], atol=1e-5)
    assert search.evaluations == 15 * 3 and search.generation == 15


def test_finished_targets_are_frozen(lenet):
    search, _ = _ascent(lenet, [0, 8], 40, goal=0.99)
    assert all(step is not None for step in search.reached_at)
    # Each target was passed forward+backward only until it reached the goal.
    assert list(search.target_evaluations) == search.reached_at
    assert search.evaluations == sum(search.reached_at)
    assert len(search.active_rows()) == 0


def test_masked_adam_leaves_other_rows_alone():
    params = torch.zeros(3, 2, requires_grad=True)
    params.grad = torch.ones(3, 2)
    adam = MaskedAdam(params, lr=0.1)
    adam.step(torch.tensor([0, 2]))
    assert torch.allclose(params[[0, 2]], torch.full((2, 2), 0.1)) and (params[1] == 0).all()


def test_regularisers():
    torch.manual_seed(0)
    images = torch.rand(2, 3, 16, 16)
    assert gaussian_blur(images, 1.0).std() < images.std() * 0.6
    pixel = PixelParam(images)
    centre = torch.full((1, 3, 1, 1), 0.5)
    rows = torch.tensor([1])
    pixel.decay(rows, 0.5, centre)
    assert (torch.allclose(pixel.params[1] - 0.5, (images[1] - 0.5) * 0.5, atol=1e-6)
            and torch.equal(pixel.params[0], images[0]))
    # The Fourier parameterisation starts from an image exactly (up to the sigmoid's clamp).
    fourier = FourierParam(images.clamp(0.01, 0.99))
    assert torch.allclose(fourier.render(torch.arange(2)), images.clamp(0.01, 0.99), atol=1e-4)


def test_clipping_resets_small_pixels(lenet):
    search, _ = _ascent(lenet, [3], 5, norm_clip=50, decay=0, blur_every=0, goal=None)
    # After norm clipping, at least half of the pixels sit exactly at LeNet's mean (0: no normalisation).
    assert (search.image.params.detach() == 0).float().mean() >= 0.5


# -- `evodream ascend` -------------------------------------------------------------------------

def test_ascend_writes_a_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, _ = _run(["ascend", "--target", "3,7", "--steps", "6", "--goal", "none", "--jitter", "2",
                            "--seed", "1", "--out", str(out), "--quiet"], capsys)
    assert code == 0 and "6 steps" in stdout
    run = RunFolder.open(out, kind="ascend")
    manifest = run.manifest
    assert (manifest["targets"] == [3, 7] and manifest["config"]["seed"] == 1
            and manifest["config"]["jitter"] == 2)
    rows = run.read_metrics()
    assert [int(r["generation"]) for r in rows] == list(range(1, 7))
    assert [int(r["evaluations"]) for r in rows] == [2 * s for s in range(1, 7)]
    summary = run.summary()
    assert summary["steps"] == 6 and summary["evaluations"] == 12
    records = run.elite_records()
    assert [r["class_name"] for r in records] == ["3", "7"]
    # The genome is the exact image: re-scoring it gives the stored confidence.
    from evodream.classifiers import load_classifier

    encoding = DirectEncoding(1, 28)
    images = torch.from_numpy(np.stack([encoding.from_json(r["genome"]) for r in records]))
    probs = load_classifier("lenet-mnist").probs(images)[[0, 1], [3, 7]]
    assert np.allclose(probs.numpy(), [r["confidence"] for r in records], atol=1e-5)
    assert (out / "elites.png").exists() and (out / "reached.json").exists()


def test_ascend_is_seeded(tmp_path):
    def metrics(name, seed):
        config = AscendConfig(target="2,5", steps=8, goal=None, jitter=3, seed=seed)
        run = ascend(config, tmp_path / name, progress=False).run
        return [{k: v for k, v in r.items() if k != "wall_seconds"} for r in run.read_metrics()]

    first = metrics("a", 4)
    assert first == metrics("b", 4)
    assert first != metrics("c", 5)


def test_ascend_reaches_the_goal_and_stops(tmp_path):
    result = ascend(AscendConfig(target="0,6", goal=0.999, init="grey"), tmp_path / "run", progress=False)
    assert result.stop_reason == "every target reached 0.999"
    assert all(c >= 0.999 for c in result.confidences.values())
    assert result.steps == max(result.reached_at.values()) < 300


def test_ascend_on_a_custom_model_from_an_image(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    picture = tmp_path / "start.png"
    Image.fromarray((np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)).save(picture)
    config = AscendConfig(model="tiny_models:make_rgb", input_size=16, target="2", steps=5, goal=None,
                          init=str(picture), param="fourier")
    result = ascend(config, tmp_path / "run", progress=False)
    assert result.steps == 5 and result.run.manifest["encoding"]["size"] == 16


# -- `evodream dream` --------------------------------------------------------------------------

def test_dream_writes_frames_and_a_gif(tmp_path, capsys):
    out = tmp_path / "dream"
    code, stdout, _ = _run(["dream", "--model", "lenet-mnist", "--size", "48", "--octaves", "2",
                            "--steps", "3", "--zoom-frames", "3", "--out", str(out), "--quiet"], capsys)
    assert code == 0 and "zoom.gif" in stdout
    assert sorted(p.name for p in (out / "frames").iterdir()) == [f"frame-00{i}.png" for i in range(3)]
    with Image.open(out / "zoom.gif") as gif:
        assert gif.n_frames == 3 and gif.size == (48, 48)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "dream" and manifest["layer"] == "features.2"
    assert manifest["source"] == "scikit-image:camera" and manifest["octave_sizes"] == [34, 48]
    dreamed = np.asarray(Image.open(out / "dream.png"), dtype=np.float32)
    original = np.asarray(Image.open(out / "input.png"), dtype=np.float32)
    assert np.abs(dreamed - original).mean() > 2  # the dream changed the photo


def test_dream_on_efficientnet_amplifies_the_layer(tmp_path):
    from evodream.classifiers import load_classifier
    from evodream.photos import photo

    effnet = load_classifier("efficientnet-lite0")
    image = photo("coffee", 64)
    objective = LayerObjective(effnet, "_blocks.9")
    settings = DreamSettings(octaves=1, steps=3)
    dreamed = dream(image, objective, settings, np.random.default_rng(0))
    with torch.no_grad():
        assert objective(dreamed) > objective(image) * 1.2
    assert dreamed.shape == image.shape and 0 <= dreamed.min() and dreamed.max() <= 1


def test_dream_a_class_and_list_layers(tmp_path, capsys):
    code, _, _ = _run(["dream", "--model", "lenet-mnist", "--target", "8", "--size", "32", "--octaves", "1",
                       "--steps", "2", "--out", str(tmp_path / "d"), "--quiet"], capsys)
    assert code == 0 and not (tmp_path / "d" / "zoom.gif").exists()
    assert json.loads((tmp_path / "d" / "manifest.json").read_text())["target_names"] == ["8"]
    code, stdout, _ = _run(["dream", "--model", "lenet-mnist", "--list-layers"], capsys)
    assert code == 0 and "features.2" in stdout and "(default)" in stdout and "classifier.3" in stdout


def test_zoom_and_octaves():
    image = torch.rand(1, 3, 40, 40)
    assert zoom_in(image, 0.1).shape == image.shape
    assert octave_sizes(224, 4, 1.4) == [82, 114, 160, 224]
    assert octave_sizes(20, 4, 1.4) == [20]  # octaves below 16 px are dropped


# -- bad input -----------------------------------------------------------------------------------

def _bad_inputs(tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    dream = ["dream", "--model", "lenet-mnist", "--size", "32", "--octaves", "1", "--steps", "1", "--quiet"]
    return {
        "unknown layer": (dream + ["--layer", "features.9", "--out", str(tmp_path / "a")], "unknown layer"),
        "unreadable image": (dream + ["--image", str(junk), "--out", str(tmp_path / "b")], "junk.png"),
        "missing image": (dream + ["--image", str(tmp_path / "nope.jpg"), "--out", str(tmp_path / "c")],
                          "does not exist"),
        "layer and target": (dream + ["--layer", "features.2", "--target", "3"], "not both"),
        "existing folder": (dream + ["--out", str(taken)], "not an empty folder"),
        "negative decay": (["ascend", "--decay", "-0.1", "--quiet"], "--decay"),
        "negative prior weight": (["ascend", "--prior", "tv=-1", "--quiet"], "tv"),
        "negative dream prior": (dream + ["--target", "3", "--prior", "tv=-2"], "tv"),
        "unknown model": (["ascend", "--model", "lenet-mnis", "--quiet"], "unknown model"),
        "unknown dream model": (dream + ["--model", "nonet"], "unknown model"),
        "clipping with fourier": (["ascend", "--param", "fourier", "--norm-clip", "10", "--quiet"],
                                  "--param pixel"),
        "bad init": (["ascend", "--init", str(junk), "--steps", "1", "--out", str(tmp_path / "e"), "--quiet"],
                     "junk.png"),
        "existing run": (["ascend", "--out", str(taken), "--quiet"], "not an empty folder"),
    }


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    for name, (args, needle) in _bad_inputs(tmp_path).items():
        code, stdout, stderr = _run(args, capsys)
        assert code == 2, name
        lines = stderr.strip().splitlines()
        assert (len(lines) == 1 and lines[0].startswith("evodream: error:")
                and needle in lines[0]), (name, stderr)
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"


def test_api_errors():
    with pytest.raises(EvodreamError, match="--jitter"):
        ascend(AscendConfig(jitter=28, steps=1), "unused")
