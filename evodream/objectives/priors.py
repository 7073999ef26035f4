"""Natural-image priors: batched, differentiable scores of how photo-like images are.

Each prior maps images in [0,1], shaped (B,C,H,W), to a (B,) tensor where HIGHER means MORE
natural; objectives add them, weighted, to the target confidence.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..errors import EvodreamError

Prior = Callable[[torch.Tensor], torch.Tensor]

# name → prior function; filled in by the functions below.
PRIORS: dict[str, Prior] = {}


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
            raise EvodreamError(f"unknown prior {name!r}: choose from {', '.join(sorted(PRIORS))}")
        try:
            value = float(weight)
        except (TypeError, ValueError, OverflowError):
            raise EvodreamError(f"prior {name!r} has weight {weight!r}, which is not a number") from None
        if not value >= 0 or value == float("inf"):
            raise EvodreamError(f"prior {name!r} has weight {value}: weights must be finite and >= 0")
        weights[name] = value
    return weights


def prior_terms(images: torch.Tensor, weights: dict[str, float]) -> torch.Tensor:
    """The weighted sum of the chosen priors, shaped (B,)."""
    total = torch.zeros(images.shape[0], device=images.device)
    for name, weight in weights.items():
        if weight:
            total = total + weight * PRIORS[name](images)
    return total
