"""`evodream harden` on a tiny stand-in network (tests/harden_hooks.py): the rounds, the fooling class
in the training set, held-out accuracy, kill + resume, loading a round's network, bad input."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from evodream.cli import main
from evodream.harden import (
    HardenConfig,
    harden,
    load_images,
    load_round_classifier,
    resume_harden,
    training_fooling_images,
)
from evodream.retrain import call_hook, fit, with_fooling

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
# Tiny budgets: 2 runs whose images train the next round + 1 held out, 300 evaluations each.
TINY = dict(model="harden_hooks:tiny", rounds=2, images_per_class=2, held_out_runs=1, encoding="direct",
            max_evals=300, budget=100, epochs=2, lr=0.01, threads=1)
FLAGS = {"--model": "harden_hooks:tiny", "--rounds": "2", "--images-per-class": "2", "--held-out-runs": "1",
         "--encoding": "direct", "--max-evals": "300", "--budget": "100", "--epochs": "2", "--lr": "0.01",
         "--threads": "1"}
TIMES = ("wall_seconds", "train_seconds")


def _flags(values: dict) -> list[str]:
    return [text for pair in values.items() for text in pair]


def _records(out: Path) -> list[dict]:
    rounds = json.loads((out / "harden.json").read_text())["rounds"]
    return [{k: v for k, v in r.items() if k not in TIMES} for r in rounds]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("harden") / "h"
    result = harden(HardenConfig(**TINY), out, log=None)
    return out, result


def test_rounds_are_recorded_with_held_out_accuracy(finished):
    out, result = finished
    assert [r["round"] for r in result.rounds] == [0, 1, 2]
    assert [r["classes"] for r in result.rounds] == [10, 11, 11]
    xt, yt = call_hook("harden_hooks:tiny", None).held_out.tensors
    for record in result.rounds:
        # The round's network, re-measured here on the held-out digits, gives the recorded accuracy.
        classifier = load_round_classifier(out / f"round-{record['round']:02d}")
        predicted = classifier.probs(xt).argmax(1)
        assert record["held_out_accuracy"] == pytest.approx(float((predicted == yt).float().mean()), abs=1e-6)
        assert record["held_out_accuracy"] > 0.5  # a trained digit classifier, not chance (10%)
        assert record["runs"] == 3 and 0 <= record["runs_all_fooled"] <= 3
    assert result.rounds[0]["previous_train_as_fooling"] is None
    assert result.rounds[1]["previous_train_as_fooling"] is not None
    lines = (out / "harden.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("round,classes,train_images")
    assert "| 2 | 11 |" in (out / "harden.md").read_text()
    for name in ("harden.png", "rounds.png", "round-02/images.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


def test_training_set_holds_every_earlier_training_image(finished):
    out, result = finished
    per_round = 2 * 10  # images_per_class runs x 10 classes; held-out runs stay out
    assert [r["train_fooling"] for r in result.rounds] == [0, per_round, 2 * per_round]
    assert [r["train_images"] for r in result.rounds] == [600, 600 + per_round, 600 + 2 * per_round]
    fooling = training_fooling_images(out, 2)
    round0, round1 = (load_images(out / f"round-0{r}", split="train") for r in (0, 1))
    assert torch.equal(fooling, torch.from_numpy(np.concatenate([round0["images"], round1["images"]])))
    assert len(load_images(out / "round-01", split="held-out")["images"]) == 10
    # Retrain round 2 from that set with the recorded recipe: the saved weights come out bit for bit,
    # so the network was trained on exactly the digits plus these 40 images as class 10.
    task = call_hook("harden_hooks:tiny", None)
    torch.manual_seed(2)
    net = call_hook("harden_hooks:tiny", 11).model
    train = with_fooling(task.train, fooling, 10)
    assert len(train) == 640 and int((train.tensors[1] == 10).sum()) == 40
    fit(net, train, epochs=2, lr=0.01)
    saved = torch.load(out / "round-02" / "model.pt", weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in net.state_dict().items())


def test_images_are_the_runs_elites_exactly(finished):
    out, _ = finished
    data = load_images(out / "round-01")
    classifier = load_round_classifier(out / "round-01")
    assert classifier.class_names[-1] == "fooling" and classifier.num_classes == 11
    probs = classifier.probs(torch.from_numpy(data["images"]))
    again = probs[torch.arange(len(probs)), torch.from_numpy(data["targets"])].numpy()
    assert np.abs(again - data["confidences"]).max() < 1e-6
    assert sorted(set(data["targets"].tolist())) == list(range(10))  # never the fooling class


def test_killed_run_resumes_identically(finished, tmp_path):
    out, _ = finished
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    process = subprocess.Popen(
        [sys.executable, "-m", "evodream.cli", "harden", *_flags(FLAGS), "--out", str(killed), "--quiet"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not (killed / "round-01" / "model.json").exists() and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"harden ended before it could be killed: {process.stderr.read().decode()[-300:]}")
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert len(json.loads((killed / "harden.json").read_text())["rounds"]) < 3  # killed inside a round
    assert main(["harden", "--resume", str(killed), "--quiet"]) == 0
    assert _records(killed) == _records(out)
    for r in range(3):
        assert (killed / f"round-0{r}/model.pt").read_bytes() == (out / f"round-0{r}/model.pt").read_bytes()
        first, second = load_images(killed / f"round-0{r}"), load_images(out / f"round-0{r}")
        assert all(np.array_equal(first[k], second[k]) for k in first)


def test_more_rounds_on_resume_equal_an_uninterrupted_run(finished, tmp_path):
    out, _ = finished
    result = harden(HardenConfig(**{**TINY, "rounds": 1}), tmp_path / "short", log=None)
    assert len(result.rounds) == 2
    result = resume_harden(tmp_path / "short", rounds=2, log=None)
    assert _records(tmp_path / "short") == _records(out)


def test_dataset_hooks_train_as_tensor_hooks():
    """A hook giving item-by-item Datasets trains the same weights as one giving tensors."""
    fooling = torch.rand(7, 1, 14, 14, generator=torch.Generator().manual_seed(0))
    weights = []
    for hook in ("harden_hooks:tiny", "harden_hooks:tiny_dataset"):
        task = call_hook(hook, None)
        torch.manual_seed(5)
        net = call_hook(hook, 11).model
        train = with_fooling(task.train, fooling, 10)
        assert len(train) == 607
        accuracy = fit(net, train, task.held_out, epochs=1)
        weights.append((net.state_dict(), accuracy))
    assert all(torch.equal(weights[0][0][k], weights[1][0][k]) for k in weights[0][0])
    assert weights[0][1] == weights[1][1]


def test_a_round_loads_as_a_model_anywhere(finished, tmp_path):
    out, _ = finished
    run = tmp_path / "evolve"
    assert main(["evolve", "--model", f"harden:{out / 'round-02'}", "--target", "3", "--encoding", "direct",
                 "--generations", "3", "--goal", "none", "--quiet", "--out", str(run)]) == 0
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["model"]["classes"] == 11 and manifest["target_names"] == ["3"]


@pytest.mark.parametrize("args, message", [
    (["--rounds", "0"], "--rounds must be at least 1"),
    (["--model", "no_such_module:hook"], "no module named 'no_such_module'"),
    (["--model", "harden_hooks:missing"], "has no function 'missing'"),
    (["--model", "harden_hooks:returns_model_only"], "must return (model, train)"),
    (["--model", "harden_hooks:wrong_shape"], "must be x float (N, C, S, S)"),
    (["--budget", "500"], "--budget 500 is past --max-evals 300"),
    (["--encoding", "pixels"], "unknown encoding 'pixels'"),
    (["--seed", "-1"], "--seed must be a whole number from 0"),
    (["--seed", "10000000000000000"], "--seed must be a whole number from 0 to 92,233,720,368,546"),
    pytest.param(["--device", "cuda"], "sees no CUDA GPU",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")),
    (["--images-per-class", str(10**30)], "--images-per-class + --held-out-runs must be at most 1,000"),
    (["--held-out-runs", "999"], "--images-per-class + --held-out-runs must be at most 1,000"),
    (["--rounds", "100"], "--rounds must be at most 99"),
    (["--out", "EXISTING"], "exists and is not an empty folder"),
    (["--out", "HARDEN"], "already holds a harden run: continue it with --resume"),
    (["--resume", "EXISTING"], "is not a harden run"),
    (["--resume", "HARDEN", "--epochs", "3"], "only --rounds may change"),
])
def test_bad_input_is_one_line_and_exit_2(finished, tmp_path, capsys, args, message):
    out, _ = finished
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep me")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    given = dict(
        zip(args[::2], [{"EXISTING": str(existing), "HARDEN": str(out)}.get(a, a) for a in args[1::2]])
    )
    if "--resume" not in given:
        given = {**FLAGS, "--out": str(tmp_path / "new"), **given}
    code = main(["harden", *_flags(given), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "new").exists()
    assert (existing / "notes.txt").read_text() == "keep me"
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("edit, message", [
    (lambda state: state["rounds"][0].update(round="x"), "its rounds are not numbered 0, 1, 2"),
    (lambda state: state.update(classes=[]), "classes is not a list of two or more names"),
    (lambda state: state.update(image_shape="x"), "image_shape is not [channels, height, width]"),
    # Well formed but not the hook's: found when the next round calls the hook, and the new round
    # count is not kept either.
    (lambda state: state.update(image_shape=[3, 5, 5]), "records images of shape [3, 5, 5], but"),
])
def test_a_damaged_harden_record_is_refused_before_any_round(finished, tmp_path, capsys, edit, message):
    out, _ = finished
    copy = tmp_path / "h"
    shutil.copytree(out, copy)
    state = json.loads((copy / "harden.json").read_text())
    edit(state)
    (copy / "harden.json").write_text(json.dumps(state))
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    code = main(["harden", "--resume", str(copy), "--rounds", str(len(state["rounds"]) + 1), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before


def test_a_round_with_a_damaged_image_shape_is_refused(finished, tmp_path, capsys):
    out, _ = finished
    copy = tmp_path / "h"
    shutil.copytree(out, copy)
    record = copy / "round-01" / "model.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "image_shape": [0, 0, 0]}))
    code = main(["evolve", "--model", f"harden:{copy}/round-01", "--max-evals", "20", "--quiet",
                 "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "image_shape is not [channels, height, width]" in err and err.count("\n") == 1, err
    assert not (tmp_path / "run").exists()
