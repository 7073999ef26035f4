"""Images as [0, 1] tensors: the photos scikit-image ships, and image files read with PIL.

Both return (1, C, size, size) float32 tensors: the largest centred square is cut out, then
resized with antialiasing, so nothing is stretched.
"""
from __future__ import annotations

import difflib
import os

import numpy as np
import torch
import torch.nn.functional as F

from .errors import EvodreamError

# scikit-image images that ship inside its wheel (no download needed).
PHOTOS = (
    "astronaut", "brick", "camera", "cat", "cell", "chelsea", "clock", "coffee", "coins",
    "colorwheel", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry", "logo",
    "microaneurysms", "moon", "page", "retina", "rocket", "text",
)


def square_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """Centre square crop of (B, C, H, W) images, then an antialiased bilinear resize to size x size."""
    h, w = images.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    images = images[..., top:top + side, left:left + side]
    if side != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=side > size)
    return images.clamp(0.0, 1.0).contiguous()


def _to_tensor(array: np.ndarray, size: int, channels: int) -> torch.Tensor:
    """(H, W) or (H, W, C) float array in [0, 1] → (1, channels, size, size) tensor."""
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    if x.dim() == 2:
        x = x[..., None]
    if x.shape[-1] == 4:  # RGBA: composite onto white
        x = x[..., :3] * x[..., 3:] + (1.0 - x[..., 3:])
    x = x.permute(2, 0, 1)[None]
    if channels == 1 and x.shape[1] == 3:
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    elif channels == 3 and x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif x.shape[1] != channels:
        raise EvodreamError(f"cannot make {channels}-channel images from {x.shape[1]}-channel data: "
                            "use 1 or 3 channels")
    return square_resize(x, int(size))


def photo(name: str, size: int, channels: int = 3) -> torch.Tensor:
    """A photo scikit-image ships (``chelsea``, ``coffee``, ``astronaut``, ``rocket``, ...).

    Returns a (1, channels, size, size) float tensor in [0, 1]; grey photos are repeated to 3 channels.
    """
    key = name.strip().lower()
    if key not in PHOTOS:
        hint = difflib.get_close_matches(key, PHOTOS, n=1)
        raise EvodreamError(
            f"unknown photo {name!r}" + (f": did you mean {hint[0]!r}?" if hint else ".")
            + f" Bundled photos: {', '.join(PHOTOS)}"
        )
    import skimage.data
    from skimage.util import img_as_float

    return _to_tensor(img_as_float(getattr(skimage.data, key)()), size, channels)


def load_image(path: str | os.PathLike, size: int, channels: int = 3) -> torch.Tensor:
    """Read any image file PIL can open as a (1, channels, size, size) float tensor in [0, 1].

    EXIF rotation is applied, transparency is composited onto white, animated files give their
    first frame, and 16-bit or float greys are scaled to [0, 1].
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = os.fspath(path)
    if not os.path.exists(path):
        raise EvodreamError(f"image file {path!r} does not exist: check the path")
    if os.path.isdir(path):
        raise EvodreamError(f"{path!r} is a folder, not an image file: name an image file inside it")
    try:
        with Image.open(path) as img:
            img.seek(0)
            img = ImageOps.exif_transpose(img)
            img.load()
            array = _pil_to_array(img)
    except UnidentifiedImageError:
        raise EvodreamError(f"{path!r} is not an image PIL can read: "
                            "pass a PNG, JPEG, BMP, TIFF, WebP or GIF file") from None
    except Image.DecompressionBombError as e:
        raise EvodreamError(f"image {path!r} is too large to read safely ({_one_line(e)}): "
                            "downscale it first") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise EvodreamError(f"cannot read image {path!r} ({_one_line(e)}): "
                            "the file may be damaged; re-save or re-export it") from None
    return _to_tensor(array, size, channels)


def _pil_to_array(img) -> np.ndarray:
    mode = img.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(img, dtype=np.float64)
        if mode.startswith("I;16"):
            return a / 65535.0
        lo, hi = float(a.min()), float(a.max())
        if mode == "F" and lo >= 0.0 and hi <= 1.0:
            return a
        if mode == "I" and lo >= 0 and hi <= 255:
            return a / 255.0
        if mode == "I" and lo >= 0 and hi <= 65535:
            return a / 65535.0
        return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
    if mode in ("1", "L") or mode == "LA":
        img = img.convert("LA" if has_alpha else "L")
    else:
        img = img.convert("RGBA" if has_alpha else "RGB")
    a = np.asarray(img, dtype=np.float32) / 255.0
    if img.mode == "LA":  # grey + alpha: composite onto white
        a = a[..., 0] * a[..., 1] + (1.0 - a[..., 1])
    return a


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__
