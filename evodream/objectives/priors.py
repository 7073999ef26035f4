"""Natural-image priors: batched, differentiable scores of how photo-like images are.

Each prior maps images in [0,1], shaped (B,C,H,W), to a (B,) tensor where HIGHER means MORE
natural; objectives add them, weighted, to the target confidence.

How a prior is scored
---------------------
Every image prior first measures a few raw statistics per image (``STATISTICS``), then compares
them with the range those statistics take on real pictures, measured once by
``scripts/calibrate_priors.py`` and stored in ``calibration.json`` beside this file:

    distance = mean over statistics of  (how far outside [lo, hi] it lies) / (natural spread)
    prior    = -distance                  (0 inside the natural range, about -1 per spread outside)
    score    = 1 / (1 + distance)         (in (0, 1]; naturalness() averages it over the priors)

Because a distance of 1 is "one natural spread off", a weight of 0.1–1 moves the fitness by a
fraction of a nat to a few nats for noise-like images: the same order as log-probability fitness.

There are two calibration profiles, picked by the channel count: colour images are compared with
colour photos (scikit-image, scikit-learn and matplotlib ship them), grey images with MNIST digits
(the only grey model evodream ships is LeNet-MNIST). Statistics depend on resolution, so each
profile is calibrated at several sizes and the nearest size (in log scale) is used.

The priors
----------
- ``tv``        log mean absolute neighbour difference: too smooth (flat) and too busy (noise) are
                both unnatural.
- ``spectrum``  slope of the radially averaged power spectrum (log power vs log frequency); photos
                fall off near 1/f^2 (slope ≈ -2), white noise and flat images have slope ≈ 0.
- ``colour``    colour images: colourfulness (Hasler & Süsstrunk), mean chroma, mean correlation
                between R, G and B; grey images: mean, spread and share of mid-grey intensities.
- ``gradient``  log kurtosis of the luminance gradients: edges in photos are sparse and
                heavy-tailed (kurtosis ≫ 3); noise has kurtosis ≈ 2.4.
- ``robust``    needs the classifier, so it is not an image-only function: the target's mean
                log-probability over a fixed set of small shifts, zooms (and, for colour models,
                mirror images) of the image — Lucent-style transformation robustness. Objective
                builds it (``RobustPrior``) for its own classifier and targets; calling
                ``PRIORS["robust"]`` directly raises. It is not part of ``naturalness()``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..errors import EvodreamError
from ..registry import Registry

Prior = Callable[[torch.Tensor], torch.Tensor]

# name → prior function; filled in by the functions below.
PRIORS = Registry("prior")  # a plugin adds one with PRIORS.register(name, function)
# Priors that need the classifier: Objective builds them itself (see RobustPrior).
CLASSIFIER_PRIORS = ("robust",)

CALIBRATION_FILE = "calibration.json"
# A balanced starting set (what `evodream compare` uses for its +priors methods). Measured on
# LeNet-MNIST, direct encoding, MAP-Elites to 95% on all 10 digits, seeds 0-2: mean elite naturalness
# 0.16 without priors, 0.21 with these weights (similar evaluations), 0.32 with weight 1 each
# (1.6-2.8x the evaluations); stronger weights trade confidence away (weight 3: 95% not reached).
DEFAULT_PRIORS = {"tv": 0.3, "spectrum": 0.3, "colour": 0.3, "gradient": 0.3}
MAX_WEIGHT = 1_000_000  # past this confidence has no say, and near 1e38 float32 scores turn inf / NaN
_LUMA = (0.299, 0.587, 0.114)


def parse_priors(text: str | dict | None) -> dict[str, float]:
    """'tv=0.1,spectrum=1.0' (or a dict from TOML) → {name: weight}, checked against PRIORS."""
    if not text:
        return {}
    if isinstance(text, dict):
        items = list(text.items())
    else:
        items = []
        for part in str(text).split(","):
            name, sep, weight = part.partition("=")
            if not sep:
                raise EvodreamError(f"prior {part.strip()!r} has no weight: write NAME=WEIGHT, e.g. tv=0.1")
            items.append((name.strip(), weight.strip()))
    weights = {}
    for name, weight in items:
        if name not in PRIORS:
            raise EvodreamError(f"unknown prior {name!r}: choose from {', '.join(sorted(PRIORS.names()))}")
        try:
            value = float(weight)
        except (TypeError, ValueError, OverflowError):
            raise EvodreamError(f"prior {name!r} has weight {weight!r}, which is not a number") from None
        if not 0 <= value <= MAX_WEIGHT:
            raise EvodreamError(f"prior {name!r} has weight {value}: "
                                f"weights must be from 0 to {MAX_WEIGHT:,}")
        weights[name] = value
    return weights


def prior_terms(images: torch.Tensor, weights: dict[str, float]) -> torch.Tensor:
    """The weighted sum of the chosen priors, shaped (B,)."""
    total = torch.zeros(images.shape[0], device=images.device)
    for name, weight in weights.items():
        if weight:
            total = total + weight * PRIORS[name](images)
    return total


# -- raw statistics ---------------------------------------------------------------------------

def _luminance(images: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W) → (B,H,W) brightness."""
    if images.shape[1] == 3:
        return (images * images.new_tensor(_LUMA).view(1, 3, 1, 1)).sum(1)
    return images.mean(1)


def _differences(x: torch.Tensor):
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def tv_statistics(images: torch.Tensor) -> torch.Tensor:
    """log of the mean absolute difference between horizontal plus vertical neighbours."""
    dx, dy = _differences(images)
    tv = dx.abs().mean((1, 2, 3)) + dy.abs().mean((1, 2, 3))
    return torch.log(tv + 1e-3).unsqueeze(1)


@lru_cache(maxsize=16)
def _spectrum_layout(height: int, width: int, device: str):
    """Per-frequency ring index (0 = DC, n_rings+1 = corners beyond the last full ring), the
    number of frequencies per ring, a Hann window, and regression weights per ring."""
    fy = torch.fft.fftfreq(height, device=device).view(-1, 1)
    fx = torch.fft.fftfreq(width, device=device).view(1, -1)
    side = min(height, width)
    rings = side // 2
    radius = torch.sqrt(fy * fy + fx * fx) * side
    index = radius.round().long().clamp(max=rings + 1).flatten()
    counts = torch.bincount(index, minlength=rings + 2).float()
    window = torch.outer(torch.hann_window(height, periodic=False, device=device),
                         torch.hann_window(width, periodic=False, device=device))
    r = torch.arange(1, rings + 1, dtype=torch.float32, device=device)
    # Weight 1/r gives every octave the same say in the log-log fit (linear rings crowd the top).
    weight = 1.0 / r
    return index, counts, window, torch.log(r), weight / weight.sum()


def spectrum_statistics(images: torch.Tensor) -> torch.Tensor:
    """Slope of log radially-averaged power against log spatial frequency (photos: about -2)."""
    x = _luminance(images)
    batch, height, width = x.shape
    index, counts, window, log_r, weight = _spectrum_layout(height, width, str(x.device))
    x = (x - x.mean((1, 2), keepdim=True)) * window
    f = torch.fft.fft2(x)
    power = (f.real * f.real + f.imag * f.imag).flatten(1)
    rings = torch.zeros(batch, counts.numel(), dtype=power.dtype, device=power.device)
    rings = rings.index_add(1, index, power) / counts
    rings = rings[:, 1:log_r.numel() + 1]
    # Relative power, so a flat image (all zero) gives a flat log spectrum, i.e. slope 0.
    log_p = torch.log(rings / (rings.sum(1, keepdim=True) + 1e-12) + 1e-12)
    mx = (weight * log_r).sum()
    my = (weight * log_p).sum(1, keepdim=True)
    slope = (weight * (log_r - mx) * (log_p - my)).sum(1) / (weight * (log_r - mx) ** 2).sum()
    return slope.unsqueeze(1)


def _std(x: torch.Tensor, dims) -> torch.Tensor:
    # sqrt(var + eps): finite gradients on flat images, where the plain std has none.
    return torch.sqrt(x.var(dims, unbiased=False) + 1e-8)


def colour_statistics(images: torch.Tensor) -> torch.Tensor:
    """Colour: [colourfulness, mean chroma, mean R/G/B correlation]; grey: [mean, std, mid-grey share]."""
    if images.shape[1] == 1:
        x = images[:, 0]
        return torch.stack([x.mean((1, 2)), _std(x, (1, 2)), (4 * x * (1 - x)).mean((1, 2))], dim=1)
    if images.shape[1] != 3:
        raise EvodreamError(f"the colour prior takes 1- or 3-channel images, got {images.shape[1]} channels")
    r, g, b = images[:, 0], images[:, 1], images[:, 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    colourfulness = (torch.sqrt(rg.var((1, 2), unbiased=False) + yb.var((1, 2), unbiased=False) + 1e-8)
                     + 0.3 * torch.sqrt(rg.mean((1, 2)) ** 2 + yb.mean((1, 2)) ** 2 + 1e-8))
    chroma = (images.amax(1) - images.amin(1)).mean((1, 2))
    centred = (images - images.mean((2, 3), keepdim=True)).flatten(2)
    cov = centred @ centred.transpose(1, 2) / centred.shape[-1]
    var = torch.diagonal(cov, dim1=1, dim2=2)
    corr = cov / torch.sqrt(var.unsqueeze(2) * var.unsqueeze(1) + 1e-10)
    mean_corr = (corr[:, 0, 1] + corr[:, 0, 2] + corr[:, 1, 2]) / 3
    return torch.stack([colourfulness, chroma, mean_corr], dim=1)


def gradient_statistics(images: torch.Tensor) -> torch.Tensor:
    """log kurtosis of horizontal and vertical luminance differences, pooled."""
    dx, dy = _differences(_luminance(images))
    g = torch.cat([dx.flatten(1), dy.flatten(1)], dim=1)
    g = g - g.mean(1, keepdim=True)
    m2 = (g * g).mean(1)
    m4 = (g ** 4).mean(1)
    kurtosis = m4 / (m2 * m2 + 1e-20)
    return torch.log(kurtosis + 0.1).unsqueeze(1)


# name → (statistics function, names of its statistics per profile)
STATISTICS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tv": tv_statistics,
    "spectrum": spectrum_statistics,
    "colour": colour_statistics,
    "gradient": gradient_statistics,
}
STATISTIC_NAMES = {
    "tv": {"colour": ["log_tv"], "grey": ["log_tv"]},
    "spectrum": {"colour": ["slope"], "grey": ["slope"]},
    "colour": {"colour": ["colourfulness", "chroma", "channel_correlation"],
               "grey": ["mean", "std", "midtone"]},
    "gradient": {"colour": ["log_kurtosis"], "grey": ["log_kurtosis"]},
}
IMAGE_PRIORS = tuple(STATISTICS)


# -- calibration ------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def calibration() -> dict:
    """The natural ranges measured by scripts/calibrate_priors.py."""
    try:
        text = resources.files(__package__).joinpath(CALIBRATION_FILE).read_text()
    except FileNotFoundError:
        raise EvodreamError(f"evodream/objectives/{CALIBRATION_FILE} is missing: run "
                            "scripts/calibrate_priors.py or reinstall evodream") from None
    return json.loads(text)


def profile_of(images: torch.Tensor) -> str:
    return "grey" if images.shape[1] == 1 else "colour"


@lru_cache(maxsize=64)
def _ranges(profile: str, size: int, name: str, device: str):
    """(lo, hi, scale) tensors of a prior's statistics at the calibrated size nearest `size`."""
    sizes = calibration()["profiles"][profile]["sizes"]
    nearest = min(sizes, key=lambda s: abs(math.log(int(s) / size)))
    entry = sizes[nearest][name]
    return tuple(torch.tensor(entry[key], dtype=torch.float32, device=device)
                 for key in ("lo", "hi", "scale"))


def distance(name: str, images: torch.Tensor) -> torch.Tensor:
    """(B,) mean distance of an image prior's statistics from the natural range, in natural spreads."""
    stats = STATISTICS[name](images)
    lo, hi, scale = _ranges(profile_of(images), int(min(images.shape[-2:])), name, str(images.device))
    outside = F.relu(lo - stats) + F.relu(stats - hi)
    return (outside / scale).mean(1)


def _image_prior(name: str) -> Prior:
    def prior(images: torch.Tensor) -> torch.Tensor:
        return -distance(name, images)
    prior.__name__ = f"{name}_prior"
    prior.__doc__ = f"Minus the distance of the {name} statistics from their natural range, (B,)."
    return prior


for _name in IMAGE_PRIORS:
    PRIORS.register(_name, _image_prior(_name), help=f"{_name} statistics in the range of photos")


@dataclass(frozen=True)
class PriorSet:
    """A named, versioned set of image priors: what a reported naturalness score averages.

    Fixed on purpose: registering a new prior must not change any reported naturalness, so a new
    set gets a new version, and manifests record the version their figures used.
    """

    version: str
    priors: tuple[str, ...]


NATURALNESS = PriorSet("naturalness-v1", ("tv", "spectrum", "colour", "gradient"))


def naturalness(images: torch.Tensor, priors: Sequence[str] = NATURALNESS.priors) -> torch.Tensor:
    """(B,) in (0, 1]: the mean over image priors of 1 / (1 + distance); 1 = photo-like on every count."""
    scores = [1.0 / (1.0 + distance(name, images)) for name in priors]
    return torch.stack(scores, dim=1).mean(1)


# -- transformation robustness (needs the classifier) -----------------------------------------

def _robust_needs_classifier(images: torch.Tensor) -> torch.Tensor:
    raise EvodreamError("the robust prior needs the classifier: "
                        "use it through Objective(priors={'robust': w})")


PRIORS.register("robust", _robust_needs_classifier, help="confidence kept under small shifts and zooms")


class RobustPrior:
    """Target log-probability averaged over a fixed set of small jitters of the image.

    The transforms (shift up to ``shift`` of the image side, zoom within ``1 ± zoom``, and a mirror
    image half of the time for colour models — digits are not mirror-symmetric) are drawn once
    from ``seed``, so every image in every generation meets the same ones: evolution compares
    like with like and a run stays reproducible. Returns (B, T), one column per target.
    """

    def __init__(self, classifier, targets: torch.Tensor, *, samples: int = 8, shift: float = 0.07,
                 zoom: float = 0.1, seed: int = 0):
        self.classifier = classifier
        self.targets = targets
        generator = torch.Generator().manual_seed(seed)
        scale = 1.0 + zoom * (2 * torch.rand(samples, generator=generator) - 1)
        move = shift * 2 * (2 * torch.rand(samples, 2, generator=generator) - 1)  # grid units span 2
        mirror = torch.ones(samples)
        if classifier.channels == 3:
            mirror = torch.where(torch.rand(samples, generator=generator) < 0.5, -1.0, 1.0)
        theta = torch.zeros(samples, 2, 3)
        theta[:, 0, 0] = mirror / scale
        theta[:, 1, 1] = 1.0 / scale
        theta[:, :, 2] = move
        self.theta = theta

    def __call__(self, images: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) for `targets` (default: the targets it was built for)."""
        targets = self.targets if targets is None else targets
        batch, k = images.shape[0], self.theta.shape[0]
        theta = self.theta.to(images.device, images.dtype).repeat_interleave(batch, dim=0)
        repeated = images.repeat(k, 1, 1, 1)
        grid = F.affine_grid(theta, list(repeated.shape), align_corners=False)
        jittered = F.grid_sample(repeated, grid, mode="bilinear", padding_mode="reflection",
                                 align_corners=False)
        log_probs = torch.log_softmax(self.classifier.logits(jittered).float(), dim=1)
        return log_probs[:, targets].view(k, batch, -1).mean(0)
