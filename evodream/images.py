"""Tensors to pictures: colour-space conversion, PNG-ready PIL images and labelled grids."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

# -- colour spaces: in place on (..., 3, P) tensors in [0, 1] ---------------------------------

def hls_to_rgb_(t: torch.Tensor) -> torch.Tensor:
    """HLS -> RGB (colorsys' conversion, written branch-free), in place on the channel dim -2."""
    h, l, s = t.unbind(-2)  # noqa: E741 (HLS's own channel letters)
    a = torch.minimum(l, 1.0 - l).mul_(s)
    rgb = []
    for n in (0.0, 8.0, 4.0):
        # k = (n + 12 h) mod 12 (frac: remainder is far slower on CPU); f = clamp(min(k-3, 9-k), -1, 1)
        k = torch.frac(h + n / 12.0).mul_(12.0)
        f = k.sub_(6.0).abs_().neg_().add_(3.0).clamp_(-1.0, 1.0)
        rgb.append(torch.addcmul(l, a, f, value=-1.0))
    for channel, value in zip(t.unbind(-2), rgb):
        channel.copy_(value)
    return t.clamp_(0.0, 1.0)


def hsv_to_rgb_(t: torch.Tensor) -> torch.Tensor:
    """HSV -> RGB (colorsys' conversion, written branch-free), in place on the channel dim -2."""
    h, s, v = t.unbind(-2)
    vs = v * s
    rgb = []
    for n in (5.0, 3.0, 1.0):
        k = torch.frac(h + n / 6.0).mul_(6.0)  # k = (n + 6 h) mod 6; f = clamp(min(k, 4 - k), 0, 1)
        f = k.sub_(2.0).abs_().neg_().add_(2.0).clamp_(0.0, 1.0)
        rgb.append(torch.addcmul(v, vs, f, value=-1.0))
    for channel, value in zip(t.unbind(-2), rgb):
        channel.copy_(value)
    return t.clamp_(0.0, 1.0)


def to_pil(image: torch.Tensor, size: int | None = None) -> Image.Image:
    """A (C,H,W) tensor in [0,1] as a PIL image, optionally enlarged (pixel blocks kept sharp)."""
    array = (image.detach().clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
    picture = Image.fromarray(array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0))
    return resized(picture, size)


def resized(picture: Image.Image, size: int | None) -> Image.Image:
    """A square picture at `size` px: enlarged with pixel blocks kept sharp, shrunk smoothly."""
    if size is None or size == picture.width:
        return picture
    return picture.resize((size, size), Image.NEAREST if size > picture.width else Image.LANCZOS)


def labelled_grid(pictures: Sequence[Image.Image], labels: Sequence[str], columns: int | None = None,
                  tile: int = 112) -> Image.Image:
    """Tiles in rows with a caption under each; the picture a person looks at first."""
    font = ImageFont.load_default()
    columns = columns or min(len(pictures), max(1, math.ceil(math.sqrt(len(pictures)))), 10) or 1
    rows = max(1, math.ceil(len(pictures) / columns))
    caption = 28
    sheet = Image.new("RGB", (columns * (tile + 4) + 4, rows * (tile + caption + 4) + 4), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (picture, label) in enumerate(zip(pictures, labels)):
        x = 4 + (i % columns) * (tile + 4)
        y = 4 + (i // columns) * (tile + caption + 4)
        sheet.paste(picture.convert("RGB").resize((tile, tile), Image.NEAREST), (x, y))
        for line, text in enumerate(label.split("\n")[:2]):
            draw.text((x + 1, y + tile + 2 + 12 * line), _fit(draw, text, font, tile), fill="black",
                      font=font)
    return sheet


def _fit(draw, text, font, width):
    while text and draw.textlength(text, font=font) > width:
        text = text[:-2] + "…" if len(text) > 2 else ""
    return text
