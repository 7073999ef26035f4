"""Tiny models for the custom-model loader tests (imported as ``tiny_models:FUNCTION``)."""
from torch import nn


class TinyNet(nn.Module):
    """1-channel 8x8 images → 3 logits."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        return self.fc(self.conv(x).relu().flatten(1))


def make_tiny():
    return TinyNet()


def make_rgb():
    """3-channel, any size → 5 logits."""
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 5))


def not_a_model():
    return 42
