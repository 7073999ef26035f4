"""Tiny harden hooks (imported as ``harden_hooks:FUNCTION``): a small CNN on 14x14 MNIST digits.

The stand-in for a user's own network and data: 600 training and 200 held-out digits, trained in
a fraction of a second, so a harden run of several rounds fits in a test.
"""
import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from evodream.retrain import fit


class TinyCNN(nn.Module):
    """1-channel 14x14 images → `num_classes` logits."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3)
        self.fc = nn.Linear(6 * 6 * 6, num_classes)

    def forward(self, x):
        return self.fc(F.max_pool2d(self.conv(x).relu(), 2).flatten(1))


@functools.lru_cache(maxsize=1)
def _digits():
    from evodream.classifiers.lenet import mnist_split

    (x, y), (xt, yt) = mnist_split()
    return (F.avg_pool2d(x[:600], 2), y[:600]), (F.avg_pool2d(xt[:200], 2), yt[:200])


@functools.lru_cache(maxsize=1)
def _trained_state():
    (x, y), (xt, yt) = _digits()
    generator_state = torch.get_rng_state()
    torch.manual_seed(123)
    net = TinyCNN()
    fit(net, torch.utils.data.TensorDataset(x, y), epochs=3, lr=1e-2)
    torch.set_rng_state(generator_state)  # the hook leaves the caller's random stream alone
    return net.state_dict()


def tiny(num_classes=None):
    """The trained 10-class network for None, else a fresh one with `num_classes` outputs."""
    train, held_out = _digits()
    if num_classes is None:
        net = TinyCNN()
        net.load_state_dict(_trained_state())
        return net, train, held_out
    return TinyCNN(num_classes), train, held_out


class ItemDigits(Dataset):
    """The same digits, item by item: the path a user's Dataset takes (no tensor indexing)."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def tiny_dataset(num_classes=None):
    net, (x, y), (xt, yt) = tiny(num_classes)
    return net, ItemDigits(x, y), ItemDigits(xt, yt)


def wrong_shape(num_classes=None):
    return nn.Linear(3, 2), (torch.zeros(4, 3), torch.zeros(4, dtype=torch.int64))


def returns_model_only(num_classes=None):
    return TinyCNN()
