"""Any torchvision classification model (``torchvision:<arch>``), with weights found offline first.

Class names, mean/std and the input size come from torchvision's weights metadata, so no
download is needed for them. The weights themselves are looked for, in order:

1. ``weights``: a local state-dict file (``--weights FILE``), or the name of one of the
   architecture's torchvision weights (``IMAGENET1K_V1``, ``DEFAULT``, ...);
2. torch hub's cache, ``torch.hub.get_dir()/checkpoints/<file name in the weights URL>``
   (``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``);
3. a download into that cache.

If all three fail, the error names the exact file to fetch and where to put it. Every file is
read with ``torch.load(weights_only=True)``, so no pickled code runs.
"""
from __future__ import annotations

import difflib
import os
import threading
from typing import Any

import torch

from ..errors import EvodreamError
from .base import Classifier

_PATCH_LOCK = threading.Lock()


def available_archs() -> list[str]:
    import torchvision

    return sorted(torchvision.models.list_models(module=torchvision.models))


def load_torchvision(arch: str, weights: str | None = None, device: str = "cpu") -> Classifier:
    """A torchvision classifier with its ImageNet metadata and the weights found as described above."""
    key = _known_arch(arch)
    entry = _weights_entry(key, weights)
    state_dict = _state_dict(key, entry, weights)
    transforms = entry.transforms()
    crop = transforms.crop_size
    input_size = int(crop[0] if isinstance(crop, (list, tuple)) else crop)
    module = _build(key, entry, state_dict, weights)
    return Classifier(
        module,
        name=f"torchvision:{key}",
        class_names=entry.meta["categories"],
        input_size=input_size,
        channels=3,
        mean=list(transforms.mean),
        std=list(transforms.std),
        device=device,
    )


def class_names(arch: str) -> list[str]:
    """The architecture's class names, from torchvision's weights metadata: nothing is downloaded."""
    return list(_weights_entry(_known_arch(arch), None).meta["categories"])


def _known_arch(arch: str) -> str:
    archs = available_archs()
    key = arch.strip().lower()
    if key not in archs:
        hint = difflib.get_close_matches(key, archs, n=3, cutoff=0.5)
        raise EvodreamError(
            f"unknown torchvision model {arch!r}"
            + (f": did you mean {', '.join(repr(h) for h in hint)}?" if hint else ".")
            + " Only classification models work: use torchvision:<arch> with an arch from "
            "torchvision.models.list_models(module=torchvision.models),"
            " e.g. torchvision:resnet50"
        )
    return key


def cache_path(entry) -> str:
    """Where torch hub keeps (and torchvision looks for) the file of a weights entry."""
    filename = os.path.basename(entry.url.split("?", 1)[0])
    return os.path.join(torch.hub.get_dir(), "checkpoints", filename)


def _weights_entry(arch: str, weights: str | None):
    import torchvision

    enum = torchvision.models.get_model_weights(arch)
    members = list(enum.__members__)
    if weights and not os.path.exists(weights) and weights.strip().upper() in enum.__members__:
        return enum[weights.strip().upper()]  # a named torchvision weights entry, e.g. IMAGENET1K_V1
    if weights and not os.path.exists(weights):
        raise EvodreamError(
            f"weights file {weights!r} does not exist: pass the path of a state-dict file saved with "
            f"torch.save(model.state_dict(), FILE), or one of {', '.join(members)}"
        )
    return enum.DEFAULT


def _state_dict(arch: str, entry, weights: str | None) -> dict[str, Any]:
    if weights and os.path.exists(weights):
        return _read_state_dict(weights, f"the --weights file {weights!r}")
    path = cache_path(entry)
    if os.path.isfile(path):
        return _read_state_dict(path, f"the cached weights {path!r}", cached=True)
    try:
        return _download(entry)
    except Exception as e:  # offline, proxy, hash mismatch, disk full, ...
        reason = " ".join(str(e).split()) or type(e).__name__
        raise EvodreamError(
            f"cannot download the {arch} weights ({reason}): download {entry.url} and save it as {path} "
            f"(folder {os.path.dirname(path)}, file {os.path.basename(path)}), or pass --weights FILE with a "
            "state-dict file"
        ) from None


def _download(entry) -> dict[str, Any]:
    """Download into torch hub's cache (with torchvision's hash check) and read it; tests replace this."""
    return entry.get_state_dict(progress=True, check_hash=True, map_location="cpu", weights_only=True)


def _read_state_dict(path: str, what: str, cached: bool = False) -> dict[str, Any]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        reason = " ".join(str(e).split())[:200] or type(e).__name__
        fix = ("delete it so it is downloaded again, or replace it with the file from torchvision"
               if cached else
               "save the weights with torch.save(model.state_dict(), FILE); "
               "whole pickled models are not loaded")
        raise EvodreamError(f"cannot read {what} as a state dict ({reason}): {fix}") from None
    if isinstance(obj, dict):
        for k in ("state_dict", "model_state_dict", "model"):  # common training-checkpoint layouts
            if isinstance(obj.get(k), dict) and not any(isinstance(v, torch.Tensor) for v in obj.values()):
                obj = obj[k]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EvodreamError(
            f"{what} is not a state dict of tensors: save it with torch.save(model.state_dict(), FILE)"
        )
    if obj and all(k.startswith("module.") for k in obj):  # saved from DataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def _build(arch: str, entry, state_dict: dict[str, Any], weights: str | None) -> torch.nn.Module:
    """Build through torchvision's own builder with ``weights=entry``, so per-architecture settings
    (inception's transform_input, ViT's image size, ...) match the weights, but hand it our state
    dict instead of letting it download."""
    import torchvision

    enum = type(entry)

    def given_state_dict(self, *args, **kwargs):
        return state_dict

    with _PATCH_LOCK:
        own = enum.__dict__.get("get_state_dict")  # normally inherited from WeightsEnum
        enum.get_state_dict = given_state_dict
        try:
            return torchvision.models.get_model(arch, weights=entry)
        except RuntimeError as e:  # load_state_dict: missing/unexpected keys, shape mismatch
            first = " ".join(str(e).split())[:300]
            source = (f"the --weights file {weights!r}" if weights and os.path.exists(weights)
                      else "the weights file")
            raise EvodreamError(
                f"{source} does not fit torchvision's {arch} ({first}): pass a state dict saved from "
                f"torchvision.models.{arch}() with {len(entry.meta['categories'])} classes"
            ) from None
        finally:
            if own is None:
                del enum.get_state_dict
            else:
                enum.get_state_dict = own
