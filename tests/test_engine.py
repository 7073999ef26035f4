"""The ONNX Runtime engine: same answers as torch for every model kind, a cache that is never
trusted blindly, one-line fallbacks, and runs that reproduce and resume exactly."""
import csv
import json
import logging
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from evodream.classifiers import load_classifier, onnx_engine
from evodream.classifiers.onnx_engine import PROBE_ATOL, PROBE_RTOL, OnnxClassifier, onnxruntime_version
from evodream.cli import main
from evodream.errors import EvodreamError

TESTS = Path(__file__).parent
needs_ort = pytest.mark.skipif(onnxruntime_version() is None,
                               reason="onnxruntime is not installed (pip install -e '.[onnx]')")


class Unexportable(nn.Module):
    """A working torch model built on an op (Bessel J0) that torch.onnx.export has no ONNX form for."""

    input_size = 8

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 4)

    def forward(self, x):
        return self.fc(torch.special.bessel_j0(x.flatten(1)))


def make_unexportable():
    return Unexportable()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("EVODREAM_CACHE", str(folder))
    return folder / "onnx"


@pytest.fixture
def on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))


def _torchscript(tmp_path):
    import tiny_models

    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    torch.jit.script(tiny_models.make_tiny()).save(str(path))
    return {"name": str(path), "input_size": 8}


def _torchvision(tmp_path):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.squeezenet1_1(num_classes=1000)
    state = model.state_dict()
    state["classifier.1.weight"] *= 50  # random init gives near-equal logits; make the top class clear
    path = tmp_path / "squeezenet.pth"
    torch.save(state, path)
    return {"name": "torchvision:squeezenet1_1", "weights": str(path)}


MODEL_KINDS = {
    "builtin": lambda tmp_path: {"name": "lenet-mnist"},
    "module:function": lambda tmp_path: {"name": "tiny_models:make_rgb", "input_size": 16},
    "torchscript": _torchscript,
    "torchvision": _torchvision,
}


@needs_ort
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
@pytest.mark.parametrize("kind", list(MODEL_KINDS))
def test_every_model_kind_gives_the_same_answers_under_both_engines(kind, tmp_path, cache, on_path, caplog):
    spec = MODEL_KINDS[kind](tmp_path)
    name = spec.pop("name")
    torch.manual_seed(0)  # module:function builds its model afresh: the same weights both times
    reference = load_classifier(name, engine="torch", **spec)
    torch.manual_seed(0)
    with caplog.at_level(logging.WARNING, logger="evodream.engine"):
        fast = load_classifier(name, engine="onnxruntime", **spec)
    assert isinstance(fast, OnnxClassifier) and type(reference) is not OnnxClassifier
    assert fast.engine == "onnxruntime" and fast.engine_version == onnxruntime_version()
    assert caplog.records == []  # nothing to say when the engine works
    assert Path(fast.onnx_source).parent == cache and Path(fast.onnx_source).is_file()
    size, channels = reference.input_size, reference.channels
    generator = torch.Generator().manual_seed(1)
    # Another batch size than the probe's, and images the classifier must first resize (and,
    # for the grey models, average to one channel): the same preparation runs for both engines.
    for images in (torch.rand(6, channels, size, size, generator=generator),
                   torch.rand(2, 3, 2 * size, 2 * size, generator=generator)):
        expected, got = reference.log_probs(images), fast.log_probs(images)
        assert got.shape == expected.shape and got.dtype == torch.float32
        assert ((got - expected).abs() <= PROBE_ATOL + PROBE_RTOL * expected.abs()).all()
        assert torch.equal(got.argmax(1), expected.argmax(1))
        top2 = expected.topk(2, dim=1).values
        assert (top2[:, 0] - top2[:, 1] > 1e-3).all()  # ... and the top class was no near-tie
    assert fast.queries == 8 and reference.queries == 8  # the load-time probe is not a query


@needs_ort
def test_gradients_still_flow_through_torch(cache):
    fast = load_classifier("lenet-mnist", engine="onnxruntime")
    image = torch.rand(1, 1, 28, 28, requires_grad=True)
    fast.logits(image)[0, 3].backward()
    assert image.grad is not None and image.grad.abs().sum() > 0
    assert fast.queries == 1


@needs_ort
def test_nan_outputs_are_caught_under_onnxruntime(cache, on_path):
    fast = load_classifier("tiny_models:make_rgb", input_size=16, engine="onnxruntime")
    images = torch.rand(3, 3, 16, 16)
    images[1, 0, 0, 0] = float("nan")
    with pytest.raises(EvodreamError, match="NaN or infinite outputs for 1 of 3 images"):
        fast.log_probs(images)


@needs_ort
def test_big_batches_reach_the_session_in_chunks_with_the_same_answers(cache, monkeypatch, on_path):
    fast = load_classifier("lenet-mnist", engine="onnxruntime")
    assert fast.chunk == onnx_engine.CHUNK_BYTES // (4 * 28 * 28)  # 83 MNIST images, ~256 KB
    images = torch.rand(20, 1, 28, 28)
    whole = fast.session.run(["logits"], {"images": images.numpy()})[0]
    calls = []
    real_run = fast.session.run
    monkeypatch.setattr(fast, "_session", type("Spy", (), {"run": lambda self, names, feed: (
        calls.append(len(feed["images"])) or real_run(names, feed))})())
    fast.chunk = 6  # 20 images: 4 calls of 5
    before = fast.queries
    got = fast.logits_array(images)
    assert calls == [5, 5, 5, 5]
    assert fast.queries - before == 20  # queries count images, not calls
    assert got.shape == whole.shape and torch.allclose(torch.from_numpy(got), torch.from_numpy(whole),
                                                       rtol=0, atol=1e-6)
    rgb = load_classifier("tiny_models:make_rgb", input_size=16, engine="onnxruntime")
    rgb.chunk = 2
    images = torch.rand(5, 3, 16, 16)
    images[4, 0, 0, 0] = float("nan")  # in the last chunk
    with pytest.raises(EvodreamError, match="NaN or infinite outputs for 1 of 5 images"):
        rgb.log_probs(images)


@needs_ort
def test_the_cache_is_reused_and_a_corrupt_or_stale_file_is_rebuilt(cache, caplog):
    first = load_classifier("lenet-mnist", engine="onnxruntime")
    path = Path(first.onnx_source)
    good = path.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == [path.name]  # no temporary file left behind
    stamp = path.stat().st_mtime_ns
    load_classifier("lenet-mnist", engine="onnxruntime")
    assert path.stat().st_mtime_ns == stamp  # a checked cache file is used, not rewritten

    other = load_classifier("lenet-mnist-b", engine="onnxruntime")  # same layout, other weights
    assert Path(other.onnx_source) != path
    stale = Path(other.onnx_source).read_bytes()
    images = torch.rand(4, 1, 28, 28)
    expected = load_classifier("lenet-mnist").log_probs(images)
    for damage in (b"not an onnx file", good[: len(good) // 2], stale):
        path.write_bytes(damage)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="evodream.engine"):
            rebuilt = load_classifier("lenet-mnist", engine="onnxruntime")
        assert isinstance(rebuilt, OnnxClassifier)
        assert len(caplog.records) == 1 and "rebuilding the ONNX cache file" in caplog.text
        assert "\n" not in caplog.records[0].getMessage()
        assert path.read_bytes() not in (damage,) and len(path.read_bytes()) == len(good)
        assert torch.allclose(rebuilt.log_probs(images), expected, atol=PROBE_ATOL)


@needs_ort
def test_cache_key_follows_the_weights(on_path):
    a = load_classifier("lenet-mnist")
    b = load_classifier("lenet-mnist")
    assert onnx_engine.cache_key(a) == onnx_engine.cache_key(b)
    with torch.no_grad():
        b.module.classifier[-1].bias[0] += 1e-3
    assert onnx_engine.cache_key(a) != onnx_engine.cache_key(b)


@needs_ort
def test_an_unwritable_cache_folder_still_gives_onnxruntime(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("EVODREAM_CACHE", str(blocker))
    with caplog.at_level(logging.WARNING, logger="evodream.engine"):
        fast = load_classifier("lenet-mnist", engine="auto")
    assert isinstance(fast, OnnxClassifier) and fast.onnx_source == "memory"
    assert len(caplog.records) == 1 and "EVODREAM_CACHE" in caplog.text


@needs_ort
def test_an_unexportable_model_falls_back_with_one_line(cache, capsys, caplog, monkeypatch):
    monkeypatch.setitem(sys.modules, "engine_test_models", sys.modules[__name__])
    with caplog.at_level(logging.WARNING, logger="evodream.engine"):
        clf = load_classifier("engine_test_models:make_unexportable", engine="auto")
    assert type(clf) is not OnnxClassifier and clf.engine == "torch"
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "cannot export" in message and "bessel_j0" in message and "evaluating with torch" in message
    assert "\n" not in message
    out = capsys.readouterr()
    assert "Torch IR graph" not in out.out + out.err  # the exporter's graph dump is kept off the terminal
    with pytest.raises(EvodreamError) as info:
        load_classifier("engine_test_models:make_unexportable", engine="onnxruntime")
    assert "--engine onnxruntime" in str(info.value) and "--engine torch" in str(info.value)
    assert "\n" not in str(info.value)
    assert clf.probs(torch.rand(2, 1, 8, 8)).shape == (2, 4)  # and torch runs it


def test_without_onnxruntime_auto_falls_back_with_one_line(monkeypatch, caplog, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` now fails
    monkeypatch.setenv("EVODREAM_CACHE", str(tmp_path))
    assert onnxruntime_version() is None
    with caplog.at_level(logging.WARNING, logger="evodream.engine"):
        clf = load_classifier("lenet-mnist", engine="auto")
    assert type(clf) is not OnnxClassifier and clf.engine == "torch"
    assert len(caplog.records) == 1 and "onnxruntime is not installed" in caplog.text
    assert "evaluating with torch" in caplog.text
    with pytest.raises(EvodreamError, match="onnxruntime is not installed"):
        load_classifier("lenet-mnist", engine="onnxruntime")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="evodream.engine"):
        assert load_classifier("lenet-mnist", engine="torch").engine == "torch"
    assert caplog.records == []  # torch asked for: nothing to say


def test_without_onnxruntime_an_auto_run_records_torch(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    out = tmp_path / "run"
    assert main(["evolve", "--target", "3", "--generations", "3", "--goal", "none", "--threads", "1",
                 "--out", str(out), "--quiet"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["engine"] == "auto"
    assert manifest["engine"] == {"name": "torch", "version": torch.__version__}


def test_unknown_engine_is_a_one_line_error(capsys):
    with pytest.raises(EvodreamError, match="did you mean 'onnxruntime'"):
        load_classifier("lenet-mnist", engine="onnxrutime")
    assert main(["evolve", "--engine", "tensorrt", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown engine 'tensorrt'" in err


@pytest.mark.parametrize("command", ["ascend", "dream"])
def test_gradient_commands_refuse_onnxruntime_with_one_line(command, tmp_path, capsys):
    out = tmp_path / "run"
    args = [command, "--model", "lenet-mnist", "--engine", "onnxruntime", "--out", str(out), "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("evodream: error: ") and err.count("\n") == 1
    assert "needs gradients" in err and "--engine onnxruntime" in err
    assert not out.exists()


def test_ascend_accepts_engine_torch(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["ascend", "--model", "lenet-mnist", "--target", "3", "--steps", "2", "--engine", "torch",
                 "--threads", "1", "--out", str(out), "--quiet"]) == 0
    assert (out / "manifest.json").exists()


# --- runs ---------------------------------------------------------------------------------------


def _rows(folder):
    with open(folder / "metrics.csv", newline="") as handle:
        return [{k: v for k, v in row.items() if k != "wall_seconds"} for row in csv.DictReader(handle)]


def _same_run(a: Path, b: Path):
    assert _rows(a) == _rows(b) and len(_rows(a)) > 0
    elites = sorted(p.name for p in (a / "elites").iterdir())
    assert elites == sorted(p.name for p in (b / "elites").iterdir()) and elites
    for name in elites:
        assert (a / "elites" / name).read_bytes() == (b / "elites" / name).read_bytes(), name
    def search(run):
        return json.loads((run / "checkpoint.json").read_text())["search"]

    assert search(a) == search(b)


@needs_ort
def test_onnxruntime_runs_reproduce_and_resume_byte_identically(tmp_path, capsys, cache):
    common = ["evolve", "--target", "all", "--goal", "none", "--seed", "3", "--threads", "1",
              "--checkpoint-every", "5", "--quiet"]
    base = common + ["--engine", "onnxruntime"]
    whole, again, split = tmp_path / "whole", tmp_path / "again", tmp_path / "split"
    assert main(base + ["--generations", "30", "--out", str(whole)]) == 0
    assert main(base + ["--generations", "30", "--out", str(again)]) == 0
    assert main(base + ["--generations", "15", "--out", str(split)]) == 0
    assert main(["evolve", "--resume", str(split), "--generations", "30", "--quiet"]) == 0
    _same_run(whole, again)
    _same_run(whole, split)
    manifest = json.loads((whole / "manifest.json").read_text())
    assert manifest["engine"] == {"name": "onnxruntime", "version": onnxruntime_version()}
    assert manifest["config"]["engine"] == "onnxruntime"

    # The engines differ in the last bits of their sums, so a torch run from the same seed is
    # another run: that is why a resume keeps the recorded engine.
    torch_run = tmp_path / "torch"
    assert main(common + ["--engine", "torch", "--generations", "30", "--out", str(torch_run)]) == 0
    assert json.loads((torch_run / "manifest.json").read_text())["engine"]["name"] == "torch"


@needs_ort
def test_resume_keeps_the_recorded_engine_and_old_runs_resume_on_torch(tmp_path, capsys, cache):
    base = ["evolve", "--target", "2,5", "--goal", "none", "--seed", "1", "--threads", "1",
            "--checkpoint-every", "4", "--quiet"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert main(base + ["--engine", "torch", "--generations", "16", "--out", str(whole)]) == 0
    assert main(base + ["--engine", "torch", "--generations", "8", "--out", str(split)]) == 0
    manifest = json.loads((split / "manifest.json").read_text())
    del manifest["engine"], manifest["config"]["engine"]  # as a run from before engines existed
    (split / "manifest.json").write_text(json.dumps(manifest))
    assert main(["evolve", "--resume", str(split), "--generations", "16", "--quiet"]) == 0
    _same_run(whole, split)  # resumed on torch, although "auto" would now pick onnxruntime
    assert main(["evolve", "--resume", str(split), "--engine", "onnxruntime", "--generations", "20",
                 "--quiet"]) == 2
    assert "not engine" in capsys.readouterr().err
