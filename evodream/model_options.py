"""The model settings every config that loads a model shares (kept free of torch: configs import it)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ModelOptions:
    """Where and how a model runs, and what some kinds of model need: the settings every config
    that loads a model shares (EvolveConfig, AscendConfig, DreamConfig inherit them)."""

    device: str = "cpu"
    threads: int | None = None
    classes_file: str | None = None   # custom models: one class name per line
    input_size: int | None = None     # custom models: input size in pixels
    weights: str | None = None        # torchvision models: a local state dict
