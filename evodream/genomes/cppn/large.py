"""The per-genome renderer for large images (64 px and up): few passes over each row of pixels.

At 224 px a row of node values is 50,176 floats: an elementwise pass costs 5-15 us (more once
a genome's rows outgrow the core's L2 cache), a transcendental 10-25 us, and every op call
1-3 us of overhead. What counts is the number of passes and calls; this renderer keeps both
small (measured on grown genomes: ~1.6x faster than the straightforward reference.render_each):

* Every node is stored as a *core* row c with an affine map, value = alpha * c + beta, and the
  map is folded into the weights of the edges that read the node (and a scalar constant), so
  the affine tails of the activations cost nothing: 2 sigmoid(z) - 1 is computed as tanh(z / 2)
  (the 1/2 folded into the incoming weights), tanh(z) as tanh, 2 exp(-z^2) - 1 as exp(-z^2)
  with (alpha, beta) = (2, -1).
* The bias input and every other constant (a node fed by constants only is a constant too) add
  one scalar per node instead of one pass per edge; each non-constant edge is one pass (the first
  a multiply, the rest a fused multiply-add).
* For colour "hls" (the default) output nodes get their value in [-1, 1] and the colour
  conversion works from those signed values (hls_signed_: 13 calls, 20 passes of P floats over
  five rows, instead of ~31 calls and ~60 passes, with no final clamp needed); for rgb,
  grey and hsv, (v + 1) / 2 is folded into the output activation (sigmoid(z) for a sigmoid
  output, exp(-z^2) for a gaussian one), and hsv goes through images.hsv_to_rgb_.
* Each op runs through whichever of numpy and torch is cheaper for it (numpy has ~1 us less
  overhead per call; torch has a fused multiply-add and a faster exp), on shared memory.

The values equal render.render_chunk's and reference.render_each's to float rounding: sums are
taken in another order and the activations through other identities. Against a float64
evaluation the largest pixel error seen is ~1e-5 (the reference's ~1e-4; tests bound both).
The work done for a genome depends on the genome only, so a genome renders bit for bit the same
alone or in any population.
"""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np
import torch

from ...images import hsv_to_rgb_
from .network import CPPN, N_IN

BIAS = N_IN - 1  # the input fixed at 1: its edges become scalar constants


# -- activation cores: in place on a pre-activation row (a torch tensor and its numpy view) -----

def _sin(t, a):
    torch.sin(t, out=t)


def _tanh(t, a):
    np.tanh(a, out=a)


def _sigmoid(t, a):
    torch.sigmoid(t, out=t)


def _gauss(t, a):  # exp(-z^2)
    np.multiply(a, a, out=a)
    torch.exp(t.neg_(), out=t)


def _clip(t, a):
    t.clamp_(-1.0, 1.0)


def _abs(t, a):
    np.abs(a, out=a)
    np.minimum(a, 1.0, out=a)


# Per activation code: (pre-scale folded into the incoming weights, core, alpha, beta) such that
# activation(z) = alpha * core(pre * z) + beta.
SIGNED = ((1.0, _sin, 1.0, 0.0),       # sine
          (0.5, _tanh, 1.0, 0.0),      # 2 sigmoid(z) - 1 = tanh(z / 2)
          (1.0, _gauss, 2.0, -1.0),    # 2 exp(-z^2) - 1
          (1.0, _clip, 1.0, 0.0),      # linear
          (1.0, _tanh, 1.0, 0.0),      # tanh
          (1.0, _abs, 1.0, 0.0))       # abs
# The same for an image channel, (activation(z) + 1) / 2 (outputs never use abs).
UNSIGNED = ((1.0, _sin, 0.5, 0.5),     # (sin z + 1) / 2
            (1.0, _sigmoid, 1.0, 0.0),  # sigmoid(z)
            (1.0, _gauss, 1.0, 0.0),   # exp(-z^2)
            (1.0, _clip, 0.5, 0.5),    # (clip(z) + 1) / 2
            (2.0, _sigmoid, 1.0, 0.0))  # (tanh z + 1) / 2 = sigmoid(2 z)


_per_thread = threading.local()  # each thread's scratch rows (a render may run on --overlap's thread)


def _scalar(core, z: float) -> float:
    """core applied to one float32 value (a node fed by constants only)."""
    one = getattr(_per_thread, "one", None)
    if one is None:
        t = torch.empty(1, dtype=torch.float32)
        one = _per_thread.one = (t, t.numpy())
    one[1][0] = z
    core(*one)
    return float(one[1][0])


def _rows(inputs: torch.Tensor, count: int) -> tuple[Sequence[torch.Tensor], Sequence[np.ndarray]]:
    """At least `count` rows of scratch, the first three holding inputs' x, y and d, as torch
    and numpy views: kept per thread for the last inputs, since at 224 px making them and copying the
    inputs cost as much as evaluating a small genome's node. Plans never write rows 0-2."""
    cached = getattr(_per_thread, "rows", None)
    if cached is None or cached[0] is not inputs or len(cached[1]) < count:
        block = torch.empty(count, inputs.shape[1], dtype=torch.float32)
        block[:3] = inputs[:3]
        cached = _per_thread.rows = (inputs, block.unbind(0), list(block.numpy()))
    return cached[1], cached[2]


def render_each(population: Sequence[CPPN], out: torch.Tensor, colour: str, inputs: torch.Tensor) -> None:
    """Finished images (B, channels, P) in [0, 1] of several genomes, one genome at a time.

    inputs is render.grid's (x, y, d, bias) table for this size. Each genome is compiled to a
    list of steps (plan), then run over all pixels, on scratch rows and views kept per thread (at
    1-3 us a view or op call on this scale, per-op views would cost a tenth of the work).
    (Splitting the pixels into L2-sized tiles was measured and lost: 4 tiles took 1.2x as long,
    16 tiles 2.5x, the per-call overhead outweighing the cache misses saved.)"""
    plans = [plan(g, g.n_outputs == 3 and colour == "hls") for g in population]
    slots = max(p.slots for p in plans)
    # x, y, d, the hidden-node slots, then the colour conversion's scratch.
    rows_t, rows_n = _rows(inputs, 3 + slots + ColourScratch.ROWS)
    colour_rows = slice(3 + slots, 3 + slots + ColourScratch.ROWS)
    colour_scratch = ColourScratch(rows_t[colour_rows], rows_n[colour_rows])
    for i, p in enumerate(plans):
        image = out[i]
        image_t = image.unbind(0)
        image_n = [t.numpy() for t in image_t]
        p.run(rows_t[:3 + p.slots] + image_t, rows_n[:3 + p.slots] + image_n)
        if p.signed:
            hls_signed_(image, image_t, image_n, colour_scratch)
        elif p.n_outputs == 3 and colour == "hsv":
            hsv_to_rgb_(image)


class Plan:
    """One genome's evaluation as a list of steps over rows: 0-2 the inputs x, y, d, then
    `slots` rows for hidden nodes (reused once a node's last reader is done), then the outputs.

    Hidden nodes are left as cores (their affine map folded into their readers' weights), outputs
    as values in [-1, 1] (signed, for hls) or as image values in [0, 1]."""

    def __init__(self, n_outputs: int, signed: bool):
        self.n_outputs, self.signed = n_outputs, signed
        self.slots = 0
        self.steps: list[tuple] = []

    def run(self, rows_t: Sequence[torch.Tensor], rows_n: Sequence[np.ndarray]) -> None:
        """Evaluate into rows (torch rows and their numpy views; inputs filled in)."""
        for target, terms, shift, core, affine in self.steps:
            t, n = rows_t[target], rows_n[target]
            if core is None:  # a constant output
                t.fill_(shift)
                continue
            s0, w0 = terms[0]
            np.multiply(rows_n[s0], w0, out=n)
            for s, w in terms[1:]:
                t.add_(rows_t[s], alpha=w)
            if shift:
                np.add(n, shift, out=n)
            core(t, n)
            if affine is not None:  # alpha is 2 or 1/2: alpha * core is exact, one rounding as before
                np.multiply(n, affine[0], out=n)
                np.add(n, affine[1], out=n)


def plan(g: CPPN, signed: bool) -> Plan:
    """Compile a genome: fold the bias, the constants and the activations' affine maps into
    each node's weighted sum, and give every non-constant hidden node a row slot."""
    order = np.argsort(g.dst, kind="stable")
    src, dst, weight = g.src[order].tolist(), g.dst[order].tolist(), g.weight[order].tolist()
    out_start = g.n_nodes - g.n_outputs
    last_read = dict(zip(src, dst))  # edges sorted by dst: each source's last reader wins
    result = Plan(g.n_outputs, signed)
    # Per node: its row (index into run's rows) and affine map, or its constant value.
    row = {0: 0, 1: 1, 2: 2}
    alpha = [1.0] * g.n_nodes
    beta = [0.0] * g.n_nodes
    constant: dict[int, float] = {BIAS: 1.0}
    free: list[int] = []
    e, edges = 0, len(src)
    for j, act in enumerate(g.acts.tolist(), start=N_IN):
        pre, core, a, b = (SIGNED if j < out_start or signed else UNSIGNED)[act]
        terms, shift, sources = [], 0.0, []
        while e < edges and dst[e] == j:
            s, w = src[e], weight[e] * pre
            if s in constant:
                shift += w * constant[s]
            else:
                terms.append((row[s], w * alpha[s]))
                shift += w * beta[s]
                sources.append(s)
            e += 1
        if j >= out_start:
            target = j - g.n_nodes  # the outputs are run's last rows
        elif terms:
            target = free.pop() if free else 3 + result.slots
            result.slots += target == 3 + result.slots
        if not terms:  # fed by constants only
            value = a * _scalar(core, shift) + b
            if j < out_start:
                constant[j] = value
            else:
                result.steps.append((target, [], value, None, None))
            continue
        terms = [(s, np.float32(w)) for s, w in terms]
        affine = None
        if j < out_start:
            row[j], alpha[j], beta[j] = target, a, b
        elif (a, b) != (1.0, 0.0):
            affine = (np.float32(a), np.float32(b))
        result.steps.append((target, terms, np.float32(shift), core, affine))
        # Rows whose last reader this is are free for the next nodes (not for this one: its first
        # multiply writes its row before the other terms are read).
        free += [row[s] for s in sources if s >= N_IN and last_read[s] == j]
    return result


# -- colour conversion from signed output values ------------------------------------------------

class ColourScratch:
    """Two scratch rows for the colour conversion (lightness, then m s), as torch and numpy views."""
    ROWS = 2

    def __init__(self, rows_t: Sequence[torch.Tensor], rows_n: Sequence[np.ndarray]):
        self.light_t, self.ms_t = rows_t
        self.light_n, self.ms_n = rows_n
        self.light_2d, self.ms_2d = self.light_t[None], self.ms_t[None]


def hls_signed_(image: torch.Tensor, rows_t: Sequence[torch.Tensor], rows_n: Sequence[np.ndarray],
                s: ColourScratch) -> None:
    """(3, P) output values (vh, vl, vs) in [-1, 1] -> R, G, B in [0, 1], in place (rows_t,
    rows_n: its rows as torch and numpy views; s: scratch views).

    The HLS colour (h, l, s) = (v + 1) / 2 of each, converted as colorsys.hls_to_rgb does, is
        channel_c = l + m * s * w_c,  m = min(l, 1 - l),  w_c = clip(sign_c (3 - |x - p_c|), -1, 1)
    with x = 12 h - 6 = 6 vh in [-6, 6], p = (0, -2, 2), sign = (-1, 1, 1): colorsys' piecewise
    hue ramps, each one clipped distance from its channel's centre. (On [-6, 6] no ramp needs the
    hue's wrap-around except red's, whose distance |x| is measured from the other side, hence its
    sign.) Since |w| <= 1 and m s <= min(l, 1 - l) also in float rounding, the result is in
    [0, 1] without a final clamp.

    The ramps are computed as sign_c (3 - clip(|x - p_c|, 2, 4)), which is the same float
    (3 - a is exact for a in [2, 4]), in the image's own rows once l and m s are taken from them:
    the working set stays at five rows, and no op broadcasts (both matter more than the number
    of passes at 224 px).
    """
    vh_n, vl_n, vs_n = rows_n
    torch.add(0.5, rows_t[1], alpha=0.5, out=s.light_t)         # l
    np.subtract(np.float32(1.0), s.light_n, out=s.ms_n)
    np.minimum(s.light_n, s.ms_n, out=s.ms_n)                     # m = min(l, 1 - l)
    torch.add(0.5, rows_t[2], alpha=0.5, out=rows_t[1])          # s, over vl
    np.multiply(s.ms_n, vl_n, out=s.ms_n)                         # m s
    np.multiply(vh_n, np.float32(6.0), out=vh_n)                  # x, then |x - p_c| per row
    np.add(vh_n, np.float32(2.0), out=vl_n)
    np.subtract(vh_n, np.float32(2.0), out=vs_n)
    image.abs_().clamp_(2.0, 4.0)
    np.subtract(vh_n, np.float32(3.0), out=vh_n)                  # red: sign -1
    np.subtract(np.float32(3.0), image[1:].numpy(), out=image[1:].numpy())
    torch.addcmul(s.light_2d, s.ms_2d, image, out=image)
