"""The paper's ImageNet fitness: softmax averaged over 10 crops (4 corners + centre, mirrored)."""
from __future__ import annotations

import torch


def ten_crops(images: torch.Tensor, crop: int) -> torch.Tensor:
    """(B,C,S,S) → (10·B,C,crop,crop), crop-major: crops[k*B + i] is crop k of image i."""
    size = images.shape[-1]
    far = size - crop
    mid = far // 2
    corners = [(0, 0), (0, far), (far, 0), (far, far), (mid, mid)]
    views = [images[..., r:r + crop, c:c + crop] for r, c in corners]
    views += [v.flip(-1) for v in views]
    return torch.cat(views, dim=0)


def crop_render_size(input_size: int) -> int:
    """Render size whose 10 crops are the model's input size (224 → 256, as in Caffe/AlexNet)."""
    return int(round(input_size * 256 / 224))
