"""Image parameterisations for gradient ascent: what the optimiser actually changes.

- ``pixel``:   the parameters are the pixels themselves, kept in [0, 1] by clamping.
- ``fourier``: the parameters are a 2-D Fourier spectrum per channel, scaled by 1/frequency so
  that every frequency band starts with equal weight (natural images have a 1/f amplitude
  spectrum), mixed through a colour-decorrelation matrix and squashed into (0, 1) by a sigmoid.
  Steps in this space favour smooth, photo-like structure over pixel noise (the idea behind
  Olah et al.'s "Feature Visualization", Distill 2017).

Both work on a batch of images at once and can update any subset of rows, so targets that have
reached their goal can be frozen while the others keep going.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

PARAMETERISATIONS = ("pixel", "fourier")

# Symmetric square root of the RGB covariance of scikit-image's colour photos (astronaut,
# chelsea, coffee, rocket, cat; computed once with numpy), scaled so its largest column has
# norm 1. Multiplying independent "colour" channels by it gives the correlated colours of photos.
COLOUR_SQRT = torch.tensor([[0.902, 0.406, 0.143],
                            [0.406, 0.563, 0.396],
                            [0.143, 0.396, 0.649]])


def gaussian_blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W) images with reflected borders."""
    if sigma <= 0:
        return images
    radius = max(1, int(math.ceil(3 * sigma)))
    radius = min(radius, images.shape[-1] - 1, images.shape[-2] - 1)
    x = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    b, c, h, w = images.shape
    flat = images.reshape(b * c, 1, h, w)
    flat = F.pad(flat, (radius, radius, radius, radius), mode="reflect")
    flat = F.conv2d(flat, kernel.view(1, 1, 1, -1))
    flat = F.conv2d(flat, kernel.view(1, 1, -1, 1))
    return flat.view(b, c, h, w)


class PixelParam:
    """Pixels as parameters, in [0, 1]."""

    name = "pixel"
    supports_clipping = True

    def __init__(self, images: torch.Tensor):
        self.params = images.detach().clone().float().clamp_(0, 1).requires_grad_(True)

    def render(self, rows: torch.Tensor) -> torch.Tensor:
        return self.params[rows]

    @torch.no_grad()
    def project(self, rows: torch.Tensor) -> None:
        self.params[rows] = self.params[rows].clamp(0, 1)

    @torch.no_grad()
    def decay(self, rows: torch.Tensor, rate: float, centre: torch.Tensor) -> None:
        """L2 decay in the model's normalised input space: shrink towards the model's mean colour."""
        self.params[rows] = centre + (self.params[rows] - centre) * (1.0 - rate)

    @torch.no_grad()
    def blur(self, rows: torch.Tensor, sigma: float) -> None:
        self.params[rows] = gaussian_blur(self.params[rows], sigma)

    @torch.no_grad()
    def reset_pixels(self, rows: torch.Tensor, mask: torch.Tensor, centre: torch.Tensor) -> None:
        """Set the pixels where mask (B, 1, H, W) is True to the centre colour."""
        chosen = self.params[rows]
        self.params[rows] = torch.where(mask, centre.expand_as(chosen), chosen)


class FourierParam:
    """A scaled Fourier spectrum per (decorrelated) channel, through a sigmoid."""

    name = "fourier"
    supports_clipping = False

    def __init__(self, images: torch.Tensor | None = None, *, shape: tuple | None = None,
                 noise: float = 0.0, generator: torch.Generator | None = None):
        if images is not None:
            shape = tuple(images.shape)
        b, c, h, w = shape
        self.size = (h, w)
        fy = torch.fft.fftfreq(h).view(-1, 1)
        fx = torch.fft.rfftfreq(w).view(1, -1)
        self.freq = torch.sqrt(fx ** 2 + fy ** 2)                       # cycles per pixel
        scale = 1.0 / torch.clamp(self.freq, min=1.0 / max(h, w))
        self.scale = scale / torch.sqrt((scale ** 2).mean())           # a unit spectrum → roughly unit pixels
        self.colour = COLOUR_SQRT.clone() if c == 3 else torch.eye(c)
        spectrum_shape = (b, c, h, w // 2 + 1, 2)
        if images is None:
            params = torch.randn(spectrum_shape, generator=generator) * noise
        else:
            params = self._spectrum_of(images.detach().float())
        self.params = params.requires_grad_(True)

    def _linear(self, spectrum: torch.Tensor) -> torch.Tensor:
        complex_spec = torch.view_as_complex(spectrum.contiguous()) * self.scale
        return torch.fft.irfft2(complex_spec, s=self.size, norm="ortho")

    def render(self, rows: torch.Tensor) -> torch.Tensor:
        linear = self._linear(self.params[rows])
        mixed = torch.einsum("ij,bjhw->bihw", self.colour, linear)
        return torch.sigmoid(mixed)

    def _spectrum_of(self, images: torch.Tensor) -> torch.Tensor:
        # The exact inverse of render (up to the clamp that keeps the logit finite).
        mixed = torch.logit(images.clamp(1e-3, 1 - 1e-3))
        linear = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(self.colour), mixed)
        spectrum = torch.fft.rfft2(linear, norm="ortho") / self.scale
        return torch.view_as_real(spectrum).contiguous()

    def project(self, rows: torch.Tensor) -> None:
        pass  # the sigmoid already keeps pixels in (0, 1)

    @torch.no_grad()
    def decay(self, rows: torch.Tensor, rate: float, centre: torch.Tensor) -> None:
        """L2 decay of the spectrum: pulls every image towards mid-grey (sigmoid(0) = 0.5)."""
        self.params[rows] = self.params[rows] * (1.0 - rate)

    @torch.no_grad()
    def blur(self, rows: torch.Tensor, sigma: float) -> None:
        # A Gaussian blur is a multiplication by exp(-2 pi^2 sigma^2 f^2) in frequency space.
        transfer = torch.exp(-2 * math.pi ** 2 * sigma ** 2 * self.freq ** 2)
        self.params[rows] = self.params[rows] * transfer.unsqueeze(-1)

    def reset_pixels(self, rows, mask, centre) -> None:
        raise NotImplementedError("pixel clipping needs the pixel parameterisation")


class MaskedAdam:
    """Adam (gradient *ascent*) that updates only the given rows of a parameter tensor.

    torch.optim.Adam would keep moving frozen rows on their momentum; here each row has its own
    step count, and rows left out of a step are untouched.
    """

    def __init__(self, params: torch.Tensor, lr: float, betas=(0.9, 0.9), eps: float = 1e-8):
        self.params = params
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.m = torch.zeros_like(params)
        self.v = torch.zeros_like(params)
        self.t = torch.zeros(params.shape[0])

    @torch.no_grad()
    def step(self, rows: torch.Tensor) -> None:
        grad = self.params.grad[rows]
        self.m[rows] = self.beta1 * self.m[rows] + (1 - self.beta1) * grad
        self.v[rows] = self.beta2 * self.v[rows] + (1 - self.beta2) * grad * grad
        self.t[rows] += 1
        shape = (-1,) + (1,) * (self.params.dim() - 1)
        t = self.t[rows].view(shape)
        m_hat = self.m[rows] / (1 - self.beta1 ** t)
        v_hat = self.v[rows] / (1 - self.beta2 ** t)
        self.params[rows] = self.params[rows] + self.lr * m_hat / (v_hat.sqrt() + self.eps)
