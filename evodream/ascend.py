"""Gradient-ascent runs: the baseline evolution is compared against, in the same run-folder format.

This is the Python API behind ``evodream ascend``::

    from evodream.ascend import AscendConfig, ascend
    result = ascend(AscendConfig(model="lenet-mnist", target="all"), "runs/mnist-ascent")

The run folder is the one evolution writes (see runs.py), with ``"kind": "ascend"`` in its
manifest, so reports read both alike. What the columns of metrics.csv mean for ascent:

- ``generation``  — the optimisation step;
- ``evaluations`` — images passed forward *and backward* so far: one per target still below the
  goal per step (finished targets are frozen). A forward+backward pass costs about three
  forward passes, so compare ``wall_seconds`` too when comparing with evolution;
- ``queries``     — images the classifier evaluated (``evaluations`` times 10 with ``ten_crop``,
  plus the views the ``robust`` prior adds);
- ``best`` / ``median`` / ``min`` / ``reached_*`` — over each target's best image so far.

Each elite is stored as a direct genome (``DirectEncoding.to_json``: the exact float pixels), so
it can be re-scored like an evolved one. There is no checkpoint: runs take minutes, not days.
"""
from __future__ import annotations

import dataclasses
import difflib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .classifiers import resolve_targets
from .classifiers.spec import ModelSpec
from .config import check_seed, coerce_setting
from .driver import ProgressBar, RunRecorder, Stop
from .driver import run as drive
from .errors import EvodreamError
from .evolve import seed_everything, write_elites
from .genomes import DirectEncoding
from .milestones import Milestones
from .model_options import ModelOptions
from .objectives import CONFIDENCE_KINDS, Objective, crop_render_size
from .runs import MANIFEST, RunFolder, existing_run
from .search.ascent import AscentSettings, GradientAscent
from .search.imageparam import PARAMETERISATIONS

INITS = ("noise", "grey")
# With the Fourier parameterisation, "noise" is a random spectrum of this standard deviation:
# faint noise around mid-grey (a unit spectrum would saturate the sigmoid).
FOURIER_NOISE = 0.3


@dataclass
class AscendConfig(ModelOptions):
    model: str = "lenet-mnist"
    target: str = "all"
    seed: int = 0
    steps: int | None = 300                # stop after this many steps
    max_evals: int | None = None           # ... or this many forward+backward image passes
    goal: float | None = 0.9999            # freeze a target at this confidence; stop when all are there
    init: str = "noise"                    # noise, grey, or the path of an image file
    param: str = "pixel"                   # pixel or fourier
    lr: float = 0.05
    decay: float = 0.001
    blur_every: int = 4
    blur_sigma: float = 0.3
    norm_clip: float = 0.0
    contrib_clip: float = 0.0
    jitter: int = 0
    confidence: str = "log_prob"
    ten_crop: bool = False
    priors: dict = field(default_factory=dict)
    batch_size: int = 64

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def ascent_settings(self) -> AscentSettings:
        names = {f.name for f in dataclasses.fields(AscentSettings)}
        return AscentSettings(**{k: v for k, v in self.to_dict().items() if k in names})


@dataclass
class AscendResult:
    run: RunFolder
    steps: int
    evaluations: int
    queries: int
    wall_seconds: float
    confidences: dict          # class name → best confidence
    reached_at: dict           # class name → step at which it reached the goal (None: never)
    target_queries: dict       # class name → classifier queries spent on that class's image
    stop_reason: str


FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(AscendConfig)}
FIELDS = set(FIELD_TYPES)


def config_from(values: dict, base: AscendConfig | None = None) -> AscendConfig:
    """A config from a mapping of settings (dashes or underscores), rejecting unknown keys."""
    changes = {}
    for key, value in values.items():
        key = key.replace("-", "_")
        if key not in FIELDS:
            hint = difflib.get_close_matches(key, FIELDS, n=1)
            raise EvodreamError(f"unknown ascend setting {key!r}"
                                + (f": did you mean {hint[0]!r}?" if hint else ""))
        # priors may also be "name=weight,..." text: validate() parses and checks them
        changes[key] = (value if key == "priors"
                        else coerce_setting(key, value, FIELD_TYPES[key], "ascend setting"))
    return dataclasses.replace(base or AscendConfig(), **changes)


def validate(config: AscendConfig) -> AscendConfig:
    from .objectives.priors import parse_priors

    def choose(name, value, choices):
        if value not in choices:
            raise EvodreamError(f"unknown {name} {value!r}: choose one of {', '.join(choices)}")

    choose("param", config.param, PARAMETERISATIONS)
    choose("confidence", config.confidence, CONFIDENCE_KINDS)
    for name in ("steps", "max_evals", "batch_size", "threads", "input_size"):
        value = getattr(config, name)
        if value is not None and value <= 0:
            raise EvodreamError(f"--{name.replace('_', '-')} must be positive, got {value}")
    check_seed(config.seed, "--seed")
    if not config.lr > 0:
        raise EvodreamError(f"--lr must be positive, got {config.lr}")
    if not 0 <= config.decay < 1:
        raise EvodreamError(f"--decay must be in [0, 1): the share of the distance to the mean colour "
                            f"removed per step, got {config.decay}")
    if config.blur_every < 0 or config.blur_sigma < 0 or config.jitter < 0:
        raise EvodreamError("--blur-every, --blur-sigma and --jitter must be >= 0 (0 turns them off)")
    for name in ("norm_clip", "contrib_clip"):
        value = getattr(config, name)
        if not 0 <= value < 100:
            raise EvodreamError(f"--{name.replace('_', '-')} is a percentile of pixels to reset: "
                                f"give 0 to <100, got {value}")
        if value and config.param != "pixel":
            raise EvodreamError(f"--{name.replace('_', '-')} resets pixels, so it needs --param pixel "
                                "(the fourier parameterisation has no pixels to reset)")
    if config.init not in INITS and not Path(config.init).exists():
        raise EvodreamError(f"--init {config.init!r} is neither {' nor '.join(INITS)} nor an existing image "
                            "file: check the spelling or the path")
    if config.goal is not None and not 0 < config.goal <= 1:
        raise EvodreamError(f"--goal must be in (0, 1], or none, got {config.goal}")
    if config.steps is None and config.max_evals is None and config.goal is None:
        raise EvodreamError("the run has no end: give --steps, --max-evals or --goal")
    priors = config.priors
    if isinstance(priors, str) and priors.strip().lower() in ("", "none"):
        priors = {}
    return dataclasses.replace(config, priors=parse_priors(priors))


def starting_images(config: AscendConfig, count: int, channels: int, size: int,
                    generator: torch.Generator) -> torch.Tensor:
    if config.init == "noise":
        return torch.rand(count, channels, size, size, generator=generator)
    if config.init == "grey":
        return torch.full((count, channels, size, size), 0.5)
    from .photos import load_image

    return load_image(config.init, size, channels).expand(count, -1, -1, -1).clone()


def ascend(config: AscendConfig, out: str | Path, *, progress: bool = True) -> AscendResult:
    """Run gradient ascent for every target into the new run folder `out`."""
    config = validate(config)
    if (Path(out) / MANIFEST).exists():  # RunFolder.create would suggest --resume, which ascent lacks
        raise EvodreamError(f"{out} already holds a run: choose a new --out name")
    classifier = ModelSpec.of(config).load()
    targets = resolve_targets(config.target, classifier.class_names, model=config.model)
    names = [classifier.class_names[t] for t in targets]
    size = crop_render_size(classifier.input_size) if config.ten_crop else classifier.input_size
    if config.jitter >= size:
        raise EvodreamError(f"--jitter {config.jitter} is not smaller than the {size}-pixel image: "
                            "use a few pixels")
    rng = seed_everything(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    images = starting_images(config, len(targets), classifier.channels, size, generator)
    objective = Objective(classifier, targets, kind=config.confidence, ten_crop=config.ten_crop,
                          priors=config.priors)
    fourier_noise = FOURIER_NOISE if config.param == "fourier" and config.init == "noise" else None
    search = GradientAscent(objective, images, config.ascent_settings(), rng, noise_spectrum=fourier_noise,
                            generator=generator)
    encoding = DirectEncoding(classifier.channels, size)
    manifest = {"kind": "ascend", "config": config.to_dict(), "seed": config.seed,
                "model": {"name": classifier.name, "input_size": classifier.input_size,
                          "channels": classifier.channels, "classes": classifier.num_classes},
                "targets": targets, "target_names": names,
                "encoding": {"encoding": "direct", "channels": classifier.channels, "size": size},
                "objective": objective.settings(),
                "metrics": {"generation": "step", "evaluations": "images passed forward+backward"}}
    run = RunFolder.create(out, manifest)
    stop = Stop(generations=config.steps, max_evals=config.max_evals, goal=config.goal,
                generation_word="steps")
    callbacks = [ProgressBar(config.steps, run.path.name, unit="step", enabled=progress,
                             extra=lambda loop: f"active {len(search.active_rows())}"),
                 RunRecorder(run, Milestones(targets, names))]
    loop = drive(search, None, stop, callbacks)
    seconds, reason = loop.seconds, loop.reason
    write_elites(run, encoding, search.elites(), classifier.class_names)
    result = AscendResult(
        run, search.generation, search.evaluations, classifier.queries, seconds,
        confidences={n: float(c) for n, c in zip(names, search.confidence)},
        reached_at={n: s for n, s in zip(names, search.reached_at)},
        target_queries={n: int(q) for n, q in zip(names, search.target_queries)}, stop_reason=reason)
    run.write_summary({"stop_reason": reason, "generations": result.steps, "steps": result.steps,
                       "evaluations": result.evaluations, "queries": result.queries,
                       "wall_seconds": round(seconds, 3), "confidences": result.confidences,
                       "goal": config.goal, "reached_goal_at_step": result.reached_at,
                       "target_queries": result.target_queries})
    return result


def run_for_compare(folder: str | Path, *, model: str, targets: str, budget: int, seed: int,
                    goal: float | None,
                    priors: str | None, threads: int | None, progress: bool) -> bool:
    """`evodream compare`'s gradient-ascent method: run with an evaluation budget instead of a step count.

    Returns True when `folder` already holds a finished run with these settings (it is reused).
    """
    config = validate(config_from({"model": model, "target": targets, "seed": seed, "goal": goal,
                                   "steps": None,
                                   "max_evals": budget, "priors": priors or {}, "threads": threads}))
    state = existing_run(folder, "ascend", config.to_dict(), fix="give compare a new --out")
    if state == "finished":
        return True
    if state == "unfinished":  # compare's own run of these settings, cut short: it keeps no checkpoint
        shutil.rmtree(folder)   # and takes seconds, so it starts over (as a sweep's ascent job does)
    ascend(config, folder, progress=progress)
    return False
