"""Your own model: a TorchScript file, or ``package.module:function`` returning an ``nn.Module``.

**Security:** loading a TorchScript file runs the code stored in it, and ``module:function``
imports and runs Python code. Only load files and modules you trust.

What the model gets and must give back:

* **Input:** images in [0, 1], shaped (B, C, S, S), with **no normalisation** applied. If your
  model expects normalised input, put the normalisation inside the module you return.
* **Size S:** ``input_size`` (``--input-size``), or an integer ``input_size`` attribute on the
  module; one of the two is required.
* **Channels C:** ``channels``, or an integer ``channels`` attribute on the module; otherwise
  found by trying one dummy grey image with 3 channels, then with 1.
* **Output:** logits shaped (B, K). The class count K is taken from that dummy forward pass.
* **Class names:** ``classes_file`` (``--classes``): a UTF-8 text file, one name per line (blank
  lines are skipped), exactly K names. Without it the classes are named "0" .. "K-1".

For ``module:function`` the current directory is searched too, so ``mynets:build`` finds
``./mynets.py``. The attribute may be a function or class called with no arguments, or an
``nn.Module`` instance.
"""
from __future__ import annotations

import difflib
import importlib
import os
import sys
import warnings
from typing import Sequence

import torch
from torch import nn

from ..errors import EvodreamError
from .base import Classifier
from .registry import names_a_function


def load_custom(
    spec: str,
    classes_file: str | None = None,
    input_size: int | None = None,
    device: str = "cpu",
    channels: int | None = None,
) -> Classifier:
    """Load a TorchScript file or a ``package.module:function`` model; see the module docstring."""
    if os.path.isfile(spec):
        module, name = _load_torchscript(spec), os.path.basename(spec)
    elif os.path.isdir(spec):
        raise EvodreamError(
            f"{spec!r} is a folder: name a TorchScript file (.pt/.ts) or package.module:function"
        )
    elif names_a_function(spec):
        module, name = _load_function(spec), spec
    else:
        raise EvodreamError(
            f"model file {spec!r} does not exist: check the path, or run `evodream models` for built-in names"
        )
    module = module.eval().to(device)
    input_size = _input_size(module, input_size, name)
    channels, num_classes = _probe(module, name, input_size, channels, device)
    class_names = _class_names(classes_file, num_classes, name)
    return Classifier(module, name=name, class_names=class_names, input_size=input_size,
                      channels=channels, device=device)


def _load_torchscript(path: str) -> nn.Module:
    try:
        with warnings.catch_warnings():  # torch >= 2.10 marks TorchScript deprecated; it still loads
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(path, map_location="cpu")
    except Exception as e:
        reason = _one_line(e)[:100]  # torch's own explanations run to several sentences
        raise EvodreamError(
            f"{path!r} is not a TorchScript model ({reason}): "
            "save one with torch.jit.script(model).save(FILE), "
            "or pass package.module:function that builds the model and loads its state dict"
        ) from None


def _load_function(spec: str) -> nn.Module:
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise EvodreamError(f"model {spec!r} must look like package.module:function (both parts non-empty)")
    added = os.getcwd() not in sys.path and "" not in sys.path
    if added:
        sys.path.append(os.getcwd())
    try:
        try:
            mod = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
                raise EvodreamError(
                    f"cannot import {module_name!r} for model {spec!r}: no module named {e.name!r}; "
                    "check the spelling, run from the folder that holds it, or add its folder to PYTHONPATH"
                ) from None
            raise EvodreamError(
                f"importing {module_name!r} failed: it needs the missing module {e.name!r}; install it"
            ) from None
        except Exception as e:
            raise EvodreamError(
                f"importing {module_name!r} failed ({type(e).__name__}: {_one_line(e)}): fix that module"
            ) from None
        if not hasattr(mod, attr):
            public = [n for n in dir(mod) if not n.startswith("_") and callable(getattr(mod, n, None))]
            hint = difflib.get_close_matches(attr, public, n=3)
            raise EvodreamError(
                f"module {module_name!r} has no {attr!r}"
                + (f": did you mean {', '.join(repr(h) for h in hint)}?" if hint else "")
                + f" Name a function there that returns an nn.Module, as {module_name}:FUNCTION"
            )
        obj = getattr(mod, attr)
        if not isinstance(obj, nn.Module):
            if not callable(obj):
                raise EvodreamError(
                    f"{spec!r} is a {type(obj).__name__}, not a function returning an nn.Module"
                )
            try:
                obj = obj()
            except Exception as e:
                raise EvodreamError(
                    f"calling {spec}() failed ({type(e).__name__}: {_one_line(e)}): "
                    "it must build the model with no arguments"
                ) from None
    finally:
        if added and os.getcwd() in sys.path:
            sys.path.remove(os.getcwd())
    if not isinstance(obj, nn.Module):
        raise EvodreamError(
            f"{spec}() returned a {type(obj).__name__}, not a torch.nn.Module: return the model"
        )
    return obj


def _input_size(module: nn.Module, input_size: int | None, name: str) -> int:
    if input_size is None:
        input_size = getattr(module, "input_size", None)
        if not isinstance(input_size, int):
            raise EvodreamError(
                f"the input size of custom model {name!r} is unknown: "
                "pass --input-size N (the side, in pixels, "
                "of the square images it takes, e.g. 28 or 224)"
            )
    if int(input_size) < 1:
        raise EvodreamError(f"--input-size must be a positive number of pixels, got {input_size}")
    return int(input_size)


def _probe(module: nn.Module, name: str, size: int, channels: int | None, device) -> tuple[int, int]:
    """One dummy forward pass: the channel count the model accepts and the number of classes."""
    if channels is None:
        channels = (getattr(module, "channels", None)
                    if isinstance(getattr(module, "channels", None), int) else None)
    tries = [channels] if channels else [3, 1]
    errors = []
    for c in tries:
        dummy = torch.full((1, c, size, size), 0.5, device=device)
        try:
            with torch.inference_mode():
                out = module(dummy)
        except Exception as e:
            errors.append(f"{c} channels: {_last_reason(e)[:150]}")
            continue
        if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 1:
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise EvodreamError(
                f"custom model {name!r} must return logits shaped (batch, classes), got {shape} for one "
                f"{c}x{size}x{size} image: flatten or select its output inside the module"
            )
        if out.shape[1] < 2:
            raise EvodreamError(f"custom model {name!r} returns {out.shape[1]} logit per image: "
                                "a classifier needs at least 2 classes")
        if not torch.isfinite(out).all():  # caught here, before a run folder exists
            raise EvodreamError(f"custom model {name!r} returns NaN or infinite logits "
                                "for a plain grey image: "
                                "the model or its weights are broken")
        return c, int(out.shape[1])
    raise EvodreamError(
        f"custom model {name!r} fails on a {size}x{size} image ({'; '.join(errors)}): check --input-size"
    )


def _class_names(classes_file: str | None, num_classes: int, name: str) -> Sequence[str]:
    if classes_file is None:
        return [str(i) for i in range(num_classes)]
    try:
        with open(classes_file, encoding="utf-8") as f:
            names = [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        raise EvodreamError(
            f"classes file {classes_file!r} does not exist: check the --classes path"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise EvodreamError(
            f"cannot read classes file {classes_file!r} ({_one_line(e)}): "
            "give a UTF-8 text file, one class name per line"
        ) from None
    seen: dict[str, int] = {}
    for line, class_name in enumerate(names, 1):
        first = seen.setdefault(class_name, line)
        if first != line:  # a twin could never be named as a target
            raise EvodreamError(f"classes file {classes_file!r} names {class_name!r} twice (names {first} "
                                f"and {line}): give each class its own name")
    if len(names) != num_classes:
        raise EvodreamError(
            f"classes file {classes_file!r} has {len(names)} names "
            f"but model {name!r} outputs {num_classes} classes: "
            "give exactly one name per output, one per line"
        )
    return names


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _last_reason(e: BaseException) -> str:
    """TorchScript wraps an error in its own traceback; the error itself is the last line."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[-1] if "Traceback of TorchScript" in str(e) and lines else _one_line(e)
