"""Gradient ascent on pixels: the baseline evolution is compared against.

One image per target class, all optimised together: every step is one batched forward and
backward pass over the images of the targets still below the goal (finished targets are frozen,
as MAP-Elites' ``focus`` parent selection stops spending evaluations on them). The objective is
the same :class:`~evodream.objectives.Objective` evolution maximises (confidence + priors).

After each step the regularisers of Yosinski et al. 2015 ("Understanding Neural Networks
Through Deep Visualization") keep the images from degenerating into high-frequency noise:

- L2 decay: shrink the image towards the model's mean colour by ``decay`` per step;
- Gaussian blur of width ``blur_sigma`` every ``blur_every`` steps;
- norm clipping: pixels whose colour vector (in the model's normalised units) is in the lowest
  ``norm_clip`` percent are set to the mean colour;
- contribution clipping: likewise for pixels whose first-order contribution to the objective,
  |sum over channels of (x - mean) * gradient|, is in the lowest ``contrib_clip`` percent.

Optional jitter (a random circular shift before each forward pass, as DeepDream does) and a
Fourier / decorrelated-colour parameterisation (see imageparam.py) are also available.

The image kept for each target is the best one *evaluated* (by fitness, as evolution's elites),
exactly as the model saw it, so its stored confidence is its real confidence.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..objectives.objective import Objective
from .base import Elite, Record
from .imageparam import PARAMETERISATIONS, FourierParam, MaskedAdam, PixelParam


@dataclass
class AscentSettings:
    lr: float = 0.05             # Adam step size (pixels: units of the [0,1] range)
    decay: float = 0.001         # L2 decay per step towards the model's mean colour
    blur_every: int = 4          # Gaussian blur every this many steps (0 = never)
    blur_sigma: float = 0.3      # blur width in pixels of the model's input
    norm_clip: float = 0.0       # percentile of lowest-norm pixels reset each step (pixel param only)
    contrib_clip: float = 0.0    # percentile of lowest-contribution pixels reset each step (pixel param only)
    jitter: int = 0              # random shift of up to this many pixels before each forward pass
    param: str = "pixel"         # pixel or fourier
    goal: float | None = 0.9999  # freeze a target once its confidence reaches this
    batch_size: int = 64         # images per forward/backward pass (all targets when fewer)


def model_centre_and_scale(classifier) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's normalisation mean and std as (1, C, 1, 1) tensors (0 and 1 when it has none)."""
    mean = getattr(classifier, "_mean", None)
    std = getattr(classifier, "_std", None)
    shape = (1, classifier.channels, 1, 1)
    mean = torch.zeros(shape) if mean is None else mean.detach().cpu().float().view(shape)
    std = torch.ones(shape) if std is None else std.detach().cpu().float().view(shape)
    return mean, std


class GradientAscent:
    def __init__(self, objective: Objective, images: torch.Tensor, settings: AscentSettings,
                 rng: np.random.Generator, *, noise_spectrum: float | None = None,
                 generator: torch.Generator | None = None):
        """`images`: the starting images, one per target, (T, C, S, S) in [0, 1]. With the Fourier
        parameterisation and `noise_spectrum` set, the start is instead a random spectrum of that
        standard deviation (images are then only used for their shape)."""
        if settings.param not in PARAMETERISATIONS:
            raise ValueError(f"param must be one of {PARAMETERISATIONS}")
        self.objective = objective
        self.classifier = objective.classifier
        self.targets = list(objective.targets)
        self.settings = settings
        self.rng = rng
        n = len(self.targets)
        if images.shape[0] != n:
            raise ValueError(f"need one starting image per target ({n}), got {images.shape[0]}")
        if settings.param == "pixel":
            self.image = PixelParam(images)
        elif noise_spectrum is not None:
            self.image = FourierParam(shape=tuple(images.shape), noise=noise_spectrum, generator=generator)
        else:
            self.image = FourierParam(images)
        self.optimiser = MaskedAdam(self.image.params, settings.lr)
        self.centre, self.scale = model_centre_and_scale(self.classifier)
        self.best_images = images.detach().clone().float()
        self.fitness = np.full(n, -np.inf)
        self.confidence = np.zeros(n)
        self.found_at = np.zeros(n, dtype=np.int64)        # evaluations when each best image was seen
        self.found_at_step = np.zeros(n, dtype=np.int64)
        self.reached_at = [None] * n                         # step at which each target reached the goal
        self.target_evaluations = np.zeros(n, dtype=np.int64)  # images of this target passed fwd+bwd
        self.target_queries = np.zeros(n, dtype=np.int64)      # classifier queries spent on each target
        self.generation = 0                                  # = steps taken (named as the searches do)
        self.evaluations = 0

    # -- one step ----------------------------------------------------------------------------
    def active_rows(self) -> np.ndarray:
        goal = self.settings.goal
        if goal is None:
            return np.arange(len(self.targets))
        return np.flatnonzero(self.confidence < goal)

    def step(self) -> Record:
        active = self.active_rows()
        if len(active) == 0:
            return self._record()
        self.generation += 1
        rows = torch.from_numpy(active)
        if self.image.params.grad is not None:
            self.image.params.grad = None
        shift = self._jitter()
        for start in range(0, len(active), self.settings.batch_size):
            self._forward_backward(rows[start:start + self.settings.batch_size], shift, start)
        self.evaluations += len(active)
        self.target_evaluations[active] += 1
        contribution = self._contribution(rows) if self.settings.contrib_clip > 0 else None
        self.optimiser.step(rows)
        self.image.project(rows)
        self._regularise(rows, contribution)
        return self._record()

    def _jitter(self) -> tuple[int, int]:
        j = self.settings.jitter
        if j <= 0:
            return (0, 0)
        dy, dx = self.rng.integers(-j, j + 1, size=2)
        return int(dy), int(dx)

    def _forward_backward(self, rows: torch.Tensor, shift: tuple[int, int], offset: int) -> None:
        images = self.image.render(rows)
        if shift != (0, 0):
            images = torch.roll(images, shifts=shift, dims=(2, 3))
        before = self.classifier.queries
        scores = self.objective.evaluate(images, columns=rows.tolist())
        # Ten-crop and the robust prior make several classifier queries per image, the same for each.
        self.target_queries[rows.numpy()] += (self.classifier.queries - before) // len(rows)
        diagonal = torch.arange(len(rows))
        fitness = scores.fitness[diagonal, diagonal]
        # Each image's fitness depends on its own pixels only (eval-mode model), so one backward
        # of the sum gives every image its own gradient.
        fitness.sum().backward()
        fitness = fitness.detach().cpu().double().numpy()
        confidence = scores.confidence[diagonal, diagonal].detach().cpu().double().numpy()
        index = rows.numpy()
        better = fitness > self.fitness[index]
        if better.any():
            chosen = index[better]
            self.fitness[chosen] = fitness[better]
            self.confidence[chosen] = confidence[better]
            self.best_images[chosen] = images.detach().cpu()[torch.from_numpy(better)]
            self.found_at[chosen] = self.evaluations + offset + np.flatnonzero(better) + 1
            self.found_at_step[chosen] = self.generation
        goal = self.settings.goal
        if goal is not None:
            for i in index[self.confidence[index] >= goal]:
                if self.reached_at[i] is None:
                    self.reached_at[i] = self.generation

    def _contribution(self, rows: torch.Tensor) -> torch.Tensor:
        # First-order estimate of how much each pixel adds to the objective (Yosinski et al.).
        x = self.image.params.detach()[rows]
        grad = self.image.params.grad[rows]
        return ((x - self.centre) * grad).sum(1, keepdim=True).abs()

    def _regularise(self, rows: torch.Tensor, contribution: torch.Tensor | None) -> None:
        s = self.settings
        if s.decay > 0:
            self.image.decay(rows, s.decay, self.centre)
        if s.blur_every and s.blur_sigma > 0 and self.generation % s.blur_every == 0:
            self.image.blur(rows, s.blur_sigma)
        if s.norm_clip > 0:
            x = self.image.params.detach()[rows]
            norm = ((x - self.centre) / self.scale).norm(dim=1, keepdim=True)
            self.image.reset_pixels(rows, _below_percentile(norm, s.norm_clip), self.centre)
        if contribution is not None:
            self.image.reset_pixels(rows, _below_percentile(contribution, s.contrib_clip), self.centre)

    def _record(self) -> Record:
        return Record(self.generation, self.evaluations, self.classifier.queries, self.confidence.tolist())

    # -- results -----------------------------------------------------------------------------
    def elites(self) -> list[Elite]:
        return [Elite(t, self.best_images[i].numpy(), float(self.fitness[i]), float(self.confidence[i]),
                      int(self.found_at[i]))
                for i, t in enumerate(self.targets) if np.isfinite(self.fitness[i])]

    def current_images(self) -> torch.Tensor:
        """The images as they stand now (after the last update; not yet evaluated)."""
        with torch.no_grad():
            return self.image.render(torch.arange(len(self.targets))).detach().clone()


def _below_percentile(values: torch.Tensor, percent: float) -> torch.Tensor:
    """Mask of the entries of each image (B, 1, H, W) below that image's `percent` percentile."""
    flat = values.flatten(1)
    threshold = torch.quantile(flat, percent / 100.0, dim=1).view(-1, 1, 1, 1)
    return values < threshold
