"""The small image transformations `evodream transfer` scores fooling images under: a shift, a zoom
in and out, a mirror. Each maps a batch (N, C, H, W) to one of the same shape.

torch loads when a transformation first runs, not with this module: the command line reads
TRANSFORM_HELP for its --help.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

SHIFT = 0.07      # of the image width: 2 pixels of a 28-pixel digit, 16 of a 224-pixel photo
ZOOM = 0.10


def _affine(images: torch.Tensor, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    """Zoom by `scale` about the centre and move right and down by `shift` of the width, batched;
    edge pixels are repeated where the image slides in, so no black borders appear."""
    import torch
    import torch.nn.functional as F

    theta = torch.tensor([[1 / scale, 0.0, -2 * shift], [0.0, 1 / scale, -2 * shift]], dtype=images.dtype)
    grid = F.affine_grid(theta.expand(images.shape[0], 2, 3), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _flip(images: torch.Tensor) -> torch.Tensor:
    return images.flip(-1)


TRANSFORMS = {
    "none": lambda x: x,
    "shift": lambda x: _affine(x, shift=SHIFT),
    "zoom-in": lambda x: _affine(x, scale=1 + ZOOM),
    "zoom-out": lambda x: _affine(x, scale=1 - ZOOM),
    "flip": _flip,
}
TRANSFORM_HELP = (f"none; shift (right and down by {SHIFT:.0%} of the width); "
                  f"zoom-in / zoom-out (by {ZOOM:.0%} about the centre); flip (mirror left-right)")
