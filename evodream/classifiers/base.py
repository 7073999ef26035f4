"""The one interface every model is used through.

A :class:`Classifier` takes images in [0, 1] shaped (B, C, H, W), applies the model's own
normalisation, and returns class probabilities from one batched forward pass. It counts every
image it evaluates, so searches and reports can speak in queries.
"""
from __future__ import annotations

import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import EvodreamError
from .allocator import RELEASE_SECONDS, keep_freed_memory, release_free_memory


def log_softmax_array(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities (float64) of a (B, classes) array of logits."""
    shifted = logits.astype(np.float64)
    shifted -= shifted.max(axis=1, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted


class Classifier:
    """A model behind one interface: [0,1] images in, logits / log-probabilities out, queries counted.

    This class runs the model in torch (``engine = "torch"``); onnx_engine.OnnxClassifier runs
    the forward-only calls of the same classifier in ONNX Runtime.
    """

    engine = "torch"

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        name: str,
        class_names: Sequence[str],
        input_size: int,
        channels: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        channels_last: bool = False,
        device: str | torch.device = "cpu",
    ):
        if torch.device(device).type == "cuda" and not torch.cuda.is_available():
            raise EvodreamError("--device cuda was asked for but torch sees no CUDA GPU: use --device cpu")
        self.name = name
        self.class_names = list(class_names)
        self.input_size = int(input_size)
        self.channels = int(channels)
        self.device = torch.device(device)
        if self.device.type == "cpu":
            keep_freed_memory()  # 2x faster CPU forward passes; see allocator.py
        self.channels_last = channels_last
        self.module = module.eval().to(self.device)
        if channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        for p in self.module.parameters():
            p.requires_grad_(False)
        shape = (1, self.channels, 1, 1)
        self._mean = torch.tensor(mean or [0.0] * channels, dtype=torch.float32,
                                  device=self.device).view(shape)
        self._std = torch.tensor(std or [1.0] * channels, dtype=torch.float32, device=self.device).view(shape)
        self.queries = 0
        self._released_at = time.monotonic()

    @property
    def engine_version(self) -> str:
        return torch.__version__

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """Bring [0,1] images to the model's channels and size, then normalise them."""
        images = (self.fit(images) - self._mean) / self._std
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def fit(self, images: torch.Tensor) -> torch.Tensor:
        """[0,1] images brought to the model's channels and size, still in [0,1] (no normalisation)."""
        if images.dim() != 4:
            raise EvodreamError(f"images must be shaped (B, C, H, W), got {tuple(images.shape)}")
        images = images.to(self.device, torch.float32)
        if images.shape[1] != self.channels:
            if images.shape[1] == 1:
                images = images.expand(-1, self.channels, -1, -1)
            elif self.channels == 1:
                images = images.mean(dim=1, keepdim=True)
            else:
                raise EvodreamError(
                    f"{self.name} takes {self.channels}-channel images, got {images.shape[1]} channels"
                )
        if images.shape[-2:] != (self.input_size, self.input_size):
            images = F.interpolate(images, size=(self.input_size, self.input_size), mode="bilinear",
                                   align_corners=False, antialias=images.shape[-1] > self.input_size)
        return images

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Differentiable logits (gradient ascent uses this); counts the images as queries."""
        self._count(images.shape[0])
        if self.device.type == "cuda":
            # Half-precision matmuls on the GPU; probabilities are taken in float32 by the callers.
            with torch.autocast("cuda", dtype=torch.float16):
                logits = self.module(self.prepare(images)).float()
        else:
            logits = self.module(self.prepare(images))
        self._check_finite(logits, images.shape[0])
        return logits

    def _count(self, images: int) -> None:
        self.queries += images
        if time.monotonic() - self._released_at > RELEASE_SECONDS:
            release_free_memory()  # bounds the kept heap's fragmentation (allocator.py)
            self._released_at = time.monotonic()

    def _check_finite(self, logits: torch.Tensor, images: int) -> None:
        # One reduction per batch: a NaN or inf here would otherwise rank as garbage in an archive.
        if not torch.isfinite(logits.detach()).all():
            bad = int((~torch.isfinite(logits.detach())).flatten(1).any(dim=1).sum())
            raise EvodreamError(f"model {self.name!r} returned NaN or infinite outputs for {bad} of {images} "
                                "images: the model or its weights are broken; check it on a real image first")

    def logits_array(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        """Forward-only logits as a float32 array of images as a tensor or an array (evolution's
        scoring path; queries counted)."""
        with torch.inference_mode():
            return self.logits(torch.as_tensor(images)).float().cpu().numpy()

    @torch.inference_mode()
    def log_probs(self, images: torch.Tensor) -> torch.Tensor:
        """Log-probabilities: ranking by these keeps precision near 100% where float32 probabilities tie."""
        return torch.log_softmax(self.logits(images).float(), dim=1)

    def probs(self, images: torch.Tensor) -> torch.Tensor:
        return self.log_probs(images).exp()

    def __repr__(self) -> str:
        return f"Classifier({self.name!r}, {self.num_classes} classes, {self.channels}x{self.input_size}px)"
