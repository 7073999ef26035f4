"""DeepDream (Mordvintsev, Olah & Tyka 2015): amplify what a layer (or a class) sees in a photo.

Each step maximises either the mean squared activation of a named module (``LayerObjective``)
or a target class's fitness under the shared :class:`~evodream.objectives.Objective`
(``ClassObjective``). The gradient step is divided by the gradient's mean magnitude, so one
step size suits every model and layer, and the image is shifted by a random jitter before each
step (and back after), which keeps the patterns from locking onto the pixel grid.

Octaves: the photo is shrunk ``octaves - 1`` times by ``octave_scale``; dreaming starts on the
smallest version, and the detail it adds is enlarged and carried into the next larger one, so
the network paints structure at several scales.

Zoom ("infinite zoom"): dream, enlarge the centre a little, dream again, and so on; each frame
is one picture of the sequence.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import EvodreamError
from ..objectives.objective import Objective
from .ascent import model_centre_and_scale

MIN_OCTAVE_SIZE = 16  # smaller images carry too few pixels for a convolutional network to see anything

# Layers that dream well, per model; other models get a convolution about 60% of the way in.
DEFAULT_LAYERS = {"efficientnet-lite0": "_blocks.9", "lenet-mnist": "features.2",
                  "lenet-mnist-b": "features.2"}


@dataclass
class DreamSettings:
    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 10              # gradient steps per octave
    step_size: float = 0.01      # per step, in units of the [0, 1] pixel range (after normalising)
    jitter: int = 32             # random shift of up to this many pixels before each step


class _Stop(Exception):
    """Raised by the hook once the chosen layer has run: the rest of the network is not needed."""


def layer_names(module: torch.nn.Module) -> list[str]:
    return [name for name, _ in module.named_modules() if name]


def _check_hookable(module: torch.nn.Module) -> None:
    if isinstance(module, torch.jit.ScriptModule):
        raise EvodreamError("a TorchScript model cannot report its layers' outputs (no forward hooks): dream "
                            "toward classes with --target, or load the model as package.module:function")


def find_layer(module: torch.nn.Module, name: str) -> torch.nn.Module:
    _check_hookable(module)
    layers = dict(module.named_modules())
    if not name or name not in layers:
        hint = difflib.get_close_matches(name, [n for n in layers if n], n=3)
        raise EvodreamError(f"unknown layer {name!r}"
                            + (f": did you mean {', '.join(map(repr, hint))}?" if hint else "")
                            + " List the model's layers with `evodream dream --list-layers`")
    return layers[name]


def default_layer(classifier) -> str:
    _check_hookable(classifier.module)
    if classifier.name in DEFAULT_LAYERS:
        return DEFAULT_LAYERS[classifier.name]
    # Shortcut projections (ResNet's downsample) only add a block's input back: they dream poorly.
    convs = [n for n, m in classifier.module.named_modules()
             if isinstance(m, torch.nn.Conv2d)
             and not any(k in n for k in ("downsample", "shortcut", "skip"))]
    if not convs:
        raise EvodreamError(f"{classifier.name} has no convolution to dream with: name one with --layer "
                            "(see --list-layers) or dream a class with --target")
    return convs[min(len(convs) - 1, int(0.6 * len(convs)))]


def _normalised(classifier, images: torch.Tensor) -> torch.Tensor:
    mean, std = model_centre_and_scale(classifier)
    x = (images.to(classifier.device) - mean.to(classifier.device)) / std.to(classifier.device)
    if getattr(classifier, "channels_last", False):
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def layer_shapes(classifier) -> list[tuple[str, str, tuple | None]]:
    """(name, module type, output shape at the model's input size) for every named module."""
    _check_hookable(classifier.module)
    shapes: dict[str, tuple] = {}
    hooks = []
    for name, module in classifier.module.named_modules():
        if not name:
            continue

        def record(_module, _inputs, output, name=name):
            if name not in shapes and isinstance(output, torch.Tensor):
                shapes[name] = tuple(output.shape[1:])
        hooks.append(module.register_forward_hook(record))
    try:
        with torch.no_grad():
            probe = torch.full((1, classifier.channels, classifier.input_size, classifier.input_size), 0.5)
            classifier.module(_normalised(classifier, probe))
    finally:
        for hook in hooks:
            hook.remove()
    return [(name, type(m).__name__, shapes.get(name))
            for name, m in classifier.module.named_modules() if name]


class LayerObjective:
    """Mean squared activation of one named module, per image: DeepDream's objective."""

    def __init__(self, classifier, layer: str):
        self.classifier = classifier
        self.layer = layer
        self.module = find_layer(classifier.module, layer)
        self.fixed_size = False  # set when the network only takes its own input size (e.g. LeNet's fc layers)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if not self.fixed_size and images.shape[-1] != self.classifier.input_size:
            try:
                return self._activation(images)
            except RuntimeError:  # a fully connected layer on the way needs the model's own size
                self.fixed_size = True
        if images.shape[-1] != self.classifier.input_size:
            size = self.classifier.input_size
            images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                                   antialias=images.shape[-1] > size)
        return self._activation(images)

    def _activation(self, images: torch.Tensor) -> torch.Tensor:
        captured = []

        def hook(_module, _inputs, output):
            captured.append(output)
            raise _Stop

        handle = self.module.register_forward_hook(hook)
        try:
            self.classifier.module(_normalised(self.classifier, images))
        except _Stop:
            pass
        finally:
            handle.remove()
        if not captured or not isinstance(captured[0], torch.Tensor):
            raise EvodreamError(f"layer {self.layer!r} gives no tensor to amplify: choose another --layer "
                                "(see --list-layers)")
        self.classifier.queries += images.shape[0]  # a partial forward pass, counted like a full one
        return captured[0].float().pow(2).flatten(1).mean(1)


class ClassObjective:
    """The fitness of the target classes (confidence + priors), summed, per image."""

    def __init__(self, objective: Objective):
        self.objective = objective

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return self.objective.evaluate(images).fitness.sum(1)


def octave_sizes(size: int, octaves: int, scale: float) -> list[int]:
    """Image sizes from the smallest octave to the full size (octaves below MIN_OCTAVE_SIZE dropped)."""
    sizes = [int(round(size / scale ** k)) for k in range(octaves)]
    return [s for s in sizes if s >= MIN_OCTAVE_SIZE or s == size][::-1]


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=images.shape[-1] > size)


def dream(image: torch.Tensor, objective: Callable[[torch.Tensor], torch.Tensor], settings: DreamSettings,
          rng: np.random.Generator, on_step: Callable[[], None] | None = None) -> torch.Tensor:
    """Dream on (B, C, S, S) images in [0, 1]; returns the dreamed images."""
    base = image.detach().float()
    sizes = octave_sizes(base.shape[-1], settings.octaves, settings.octave_scale)
    detail = torch.zeros_like(_resize(base, sizes[0]))
    result = base
    for size in sizes:
        octave_base = _resize(base, size)
        detail = F.interpolate(detail, size=(size, size), mode="bilinear", align_corners=False)
        x = (octave_base + detail).clamp(0, 1)
        for _ in range(settings.steps):
            x = _step(x, objective, settings, rng)
            if on_step is not None:
                on_step()
        detail = x - octave_base
        result = x
    return result.detach()


def _step(x: torch.Tensor, objective, settings: DreamSettings, rng: np.random.Generator) -> torch.Tensor:
    jitter = min(settings.jitter, x.shape[-1] // 4)
    shift = tuple(int(v) for v in rng.integers(-jitter, jitter + 1, size=2)) if jitter > 0 else (0, 0)
    x = x.detach().requires_grad_(True)
    # Rolling is differentiable, so the gradient arrives already shifted back.
    objective(torch.roll(x, shifts=shift, dims=(2, 3))).sum().backward()
    grad = x.grad
    # Normalise per image by the mean gradient magnitude: one step size fits every layer and model.
    grad = grad / (grad.abs().flatten(1).mean(1).view(-1, 1, 1, 1) + 1e-12)
    return (x.detach() + settings.step_size * grad).clamp(0, 1)


def zoom_in(image: torch.Tensor, amount: float) -> torch.Tensor:
    """Enlarge the centre by 1 / (1 - amount), keeping the size: one step of the infinite zoom."""
    size = image.shape[-1]
    keep = max(2, int(round(size * (1 - amount))))
    start = (size - keep) // 2
    return F.interpolate(image[..., start:start + keep, start:start + keep], size=(size, size),
                         mode="bilinear", align_corners=False)


def dream_sequence(image: torch.Tensor, objective, settings: DreamSettings, rng: np.random.Generator, *,
                   frames: int = 1, zoom: float = 0.05, on_step=None, on_frame=None) -> list[torch.Tensor]:
    """Frame 0 is the dream of `image`; each next frame dreams on the previous one zoomed in by `zoom`."""
    result: list[torch.Tensor] = []
    current = image
    for index in range(frames):
        if index:
            current = zoom_in(current, zoom)
        current = dream(current, objective, settings, rng, on_step)
        result.append(current)
        if on_frame is not None:
            on_frame(index, current)
    return result


def steps_per_frame(size: int, settings: DreamSettings) -> int:
    return len(octave_sizes(size, settings.octaves, settings.octave_scale)) * settings.steps


__all__: Sequence[str] = ["DreamSettings", "LayerObjective", "ClassObjective", "dream", "dream_sequence",
                          "zoom_in", "layer_shapes", "default_layer", "find_layer", "octave_sizes"]
