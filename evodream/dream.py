"""DeepDream runs: dream on a photo, optionally as an "infinite zoom" sequence, into a new folder.

This is the Python API behind ``evodream dream``::

    from evodream.dream import DreamConfig, deep_dream
    result = deep_dream(DreamConfig(model="efficientnet-lite0", zoom_frames=8), "runs/dream")

The folder holds ``manifest.json`` (settings, model, layer or targets, source, versions),
``input.png`` (the photo as the model saw it), ``dream.png`` (the dream of the photo itself),
``frames/frame-NNN.png`` (one per zoom frame) and, with more than one frame, ``zoom.gif``.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from .classifiers import resolve_targets
from .classifiers.spec import ModelSpec
from .config import check_seed
from .errors import EvodreamError
from .evolve import seed_everything
from .images import to_pil
from .model_options import ModelOptions
from .objectives import CONFIDENCE_KINDS, Objective
from .runs import check_new_folder, package_versions, write_json
from .search.deepdream import (
    MIN_OCTAVE_SIZE,
    ClassObjective,
    DreamSettings,
    LayerObjective,
    default_layer,
    dream_sequence,
    find_layer,
    octave_sizes,
    steps_per_frame,
)

FORMAT_VERSION = 1
# Gradients through the model at 8k px hold (8192 / 224)^2 ~ 1,300 times the activations of a 224-px
# pass: beyond that a typo, not a wish.
MAX_DREAM_SIZE = 8192
MAX_OCTAVES = 64          # past this every octave is the smallest size already
MAX_FRAME_MS = 655_350    # a GIF stores a frame's duration in 16 bits of centiseconds
MAX_ZOOM_FRAMES = 10_000  # hours of dreaming at any size; more is a typo
MAX_OCTAVE_SCALE = 16.0   # past this the second octave is already below the smallest size
# The bundled scikit-image photo dreamed on when no --image is given, by the model's channels.
DEFAULT_PHOTOS = {3: "chelsea", 1: "camera"}


@dataclass
class DreamConfig(ModelOptions):
    model: str = "efficientnet-lite0"
    layer: str | None = None         # amplify this layer's activations (default: a mid layer) ...
    target: str | None = None        # ... or these classes' fitness instead
    image: str | None = None         # an image file; default a bundled photo
    photo: str | None = None         # a bundled scikit-image photo by name
    size: int = 224
    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 10                  # per octave
    step_size: float = 0.01
    jitter: int = 32
    zoom_frames: int = 1
    zoom: float = 0.05               # share of the side cut away per zoom frame
    frame_ms: int = 120              # GIF frame duration
    confidence: str = "log_prob"     # class dreams: the fitness, as in evolution
    priors: dict = field(default_factory=dict)
    seed: int = 0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def settings(self) -> DreamSettings:
        return DreamSettings(octaves=self.octaves, octave_scale=self.octave_scale, steps=self.steps,
                             step_size=self.step_size, jitter=self.jitter)


@dataclass
class DreamResult:
    out: Path
    frames: list            # paths of the frame PNGs
    gif: Path | None
    layer: str | None
    targets: list           # class names (class dreams)
    queries: int
    wall_seconds: float


def validate(config: DreamConfig) -> DreamConfig:
    from .objectives.priors import parse_priors

    if config.target is not None and not config.target.strip(" ,"):
        raise EvodreamError("--target is empty: give class names or indices, "
                            "or leave it out to dream a layer")
    if config.layer and config.target:
        raise EvodreamError("give --layer or --target, not both: a dream amplifies one layer or some classes")
    if config.image and config.photo:
        raise EvodreamError("give --image or --photo, not both")
    if config.confidence not in CONFIDENCE_KINDS:
        raise EvodreamError(f"unknown confidence {config.confidence!r}: "
                            f"choose one of {', '.join(CONFIDENCE_KINDS)}")
    whole = {"octaves": config.octaves, "steps": config.steps, "zoom_frames": config.zoom_frames,
             "frame_ms": config.frame_ms}
    for name, value in whole.items():
        if value < 1:
            raise EvodreamError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if config.octaves > MAX_OCTAVES:
        raise EvodreamError(f"--octaves must be at most {MAX_OCTAVES}, got {config.octaves}")
    if config.zoom_frames > MAX_ZOOM_FRAMES:
        raise EvodreamError(f"--zoom-frames must be at most {MAX_ZOOM_FRAMES:,}, got {config.zoom_frames}")
    if config.frame_ms > MAX_FRAME_MS:
        raise EvodreamError(f"--frame-ms must be at most {MAX_FRAME_MS:,} (a GIF frame lasts at most "
                            f"655.35 s), got {config.frame_ms}")
    if not MIN_OCTAVE_SIZE <= config.size <= MAX_DREAM_SIZE:
        raise EvodreamError(f"--size must be from {MIN_OCTAVE_SIZE} to {MAX_DREAM_SIZE} pixels, "
                            f"got {config.size}")
    if not 1 < config.octave_scale <= MAX_OCTAVE_SCALE:
        raise EvodreamError(f"--octave-scale must be above 1 and at most {MAX_OCTAVE_SCALE:g} (each octave "
                            f"is that much smaller), got {config.octave_scale}")
    if not config.step_size > 0:
        raise EvodreamError(f"--step-size must be positive, got {config.step_size}")
    if config.jitter < 0:
        raise EvodreamError(f"--jitter must be >= 0 (0 = off), got {config.jitter}")
    if not 0 < config.zoom < 0.5:
        raise EvodreamError(f"--zoom is the share of the side cut away per frame: give a value in (0, 0.5), "
                            f"got {config.zoom}")
    if config.threads is not None and config.threads <= 0:
        raise EvodreamError(f"--threads must be positive, got {config.threads}")
    check_seed(config.seed, "--seed")
    priors = config.priors
    if isinstance(priors, str) and priors.strip().lower() in ("", "none"):
        priors = {}
    return dataclasses.replace(config, priors=parse_priors(priors))


def _new_folder(out: Path) -> None:
    check_new_folder(out)
    try:
        (out / "frames").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EvodreamError(f"cannot create {out}: {exc.strerror}; choose another --out") from None


def source_image(config: DreamConfig, channels: int) -> tuple[torch.Tensor, str]:
    from .photos import load_image, photo

    if config.image:
        return load_image(config.image, config.size, channels), str(config.image)
    name = config.photo or DEFAULT_PHOTOS.get(channels, "camera")
    return photo(name, config.size, channels), f"scikit-image:{name}"


def deep_dream(config: DreamConfig, out: str | Path, *, progress: bool = True) -> DreamResult:
    config = validate(config)
    out = Path(out)
    classifier = ModelSpec.of(config).load()
    targets: list[int] = []
    if config.target:
        targets = resolve_targets(config.target, classifier.class_names, model=config.model)
        objective = ClassObjective(Objective(classifier, targets, kind=config.confidence,
                                             priors=config.priors))
        layer = None
    else:
        if config.priors:
            raise EvodreamError("--prior weighs a class's fitness: use it with --target, not a layer dream")
        layer = config.layer or default_layer(classifier)
        find_layer(classifier.module, layer)
        objective = LayerObjective(classifier, layer)
    image, source = source_image(config, classifier.channels)
    rng = seed_everything(config.seed)
    settings = config.settings()
    _new_folder(out)
    to_pil(image[0]).save(out / "input.png")

    frame_paths: list[Path] = []

    def save_frame(index: int, frame: torch.Tensor) -> None:
        path = out / "frames" / f"frame-{index:03d}.png"
        to_pil(frame[0]).save(path)
        frame_paths.append(path)
        if index == 0:
            to_pil(frame[0]).save(out / "dream.png")

    total = config.zoom_frames * steps_per_frame(config.size, settings)
    started = time.perf_counter()
    with tqdm(total=total, unit="step", disable=not progress, dynamic_ncols=True, desc=out.name) as bar:
        frames = dream_sequence(image, objective, settings, rng, frames=config.zoom_frames, zoom=config.zoom,
                                on_step=lambda: bar.update(1),
                                on_frame=lambda i, f: (save_frame(i, f),
                                                       bar.set_postfix_str(f"frame {i + 1}")))
    seconds = time.perf_counter() - started
    gif = None
    if len(frames) > 1:
        gif = out / "zoom.gif"
        pictures = [to_pil(f[0]) for f in frames]
        pictures[0].save(gif, save_all=True, append_images=pictures[1:], duration=config.frame_ms, loop=0)
    names = [classifier.class_names[t] for t in targets]
    write_json(out / "manifest.json", {
        "format_version": FORMAT_VERSION, "kind": "dream", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv, "versions": package_versions(), "config": config.to_dict(), "seed": config.seed,
        "model": {"name": classifier.name, "input_size": classifier.input_size,
                  "channels": classifier.channels},
        "source": source, "layer": layer, "targets": targets, "target_names": names,
        "octave_sizes": octave_sizes(config.size, config.octaves, config.octave_scale),
        "frames": [p.name for p in frame_paths], "gif": gif.name if gif else None,
        "queries": classifier.queries, "wall_seconds": round(seconds, 3)})
    return DreamResult(out, frame_paths, gif, layer, names, classifier.queries, seconds)


def list_layers(config: DreamConfig) -> tuple[list, str | None]:
    """(name, module type, output shape) for every named module of the model, and the default layer."""
    from .search.deepdream import layer_shapes

    classifier = ModelSpec.of(config).load()
    try:
        default = default_layer(classifier)
    except EvodreamError:  # no convolution: the user must name a layer
        default = None
    return layer_shapes(classifier), default


