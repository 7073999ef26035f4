"""The CPPN node activations: their names, codes and in-place torch implementations.

Every activation lands in [-1, 1]:
    sine      sin(z)
    sigmoid   2 / (1 + exp(-z)) - 1             (a sigmoid scaled to (-1, 1))
    gaussian  2 exp(-z^2) - 1                   (peak 1 at z = 0, -1 far away)
    linear    z clipped to [-1, 1]
    tanh      tanh(z)
    abs       |z| clipped to [0, 1]             (hidden nodes only)
Output nodes use the first five: abs would only reach [0.5, 1] of the channel value.
A genome stores an activation as its code, the index into ACTIVATIONS (codes are saved nowhere
but in memory; genome files use the names).
"""
from __future__ import annotations

ACTIVATIONS = ("sine", "sigmoid", "gaussian", "linear", "tanh", "abs")
OUTPUT_ACTIVATIONS = ACTIVATIONS[:5]  # codes 0-4: the ones whose range is all of [-1, 1]
ACTIVATION_CODE = {name: code for code, name in enumerate(ACTIVATIONS)}


# Applied in place to a block of pre-activations (the renderers never allocate per node).
# tanh and the scaled sigmoid go through sigmoid_, which is 2-5x cheaper than tanh_ on CPU.

def _sine(t):
    return t.sin_()


def _sigmoid(t):  # 2 sigmoid(z) - 1
    return t.sigmoid_().mul_(2.0).sub_(1.0)


def _gaussian(t):  # 2 exp(-z^2) - 1
    return t.square_().neg_().exp_().mul_(2.0).sub_(1.0)


def _linear(t):
    return t.clamp_(-1.0, 1.0)


def _tanh(t):  # tanh(z) = 2 sigmoid(2z) - 1
    return t.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)


def _abs(t):
    return t.abs_().clamp_(max=1.0)


IN_PLACE = (_sine, _sigmoid, _gaussian, _linear, _tanh, _abs)  # indexed by activation code
