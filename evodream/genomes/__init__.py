"""Genome encodings: ``direct`` (one gene per pixel), ``cppn`` (a pattern-producing network),
``lowres`` (a coarse grid of genes, upsampled) and ``spectral`` (that grid's genes read as
1/f-weighted cosine coefficients).

Each registers in :data:`ENCODINGS` a factory ``(config, channels, size) -> Encoding`` and the
recipe settings it implies where the user left them open. The factories import their encoding
when called, so that listing the names (as every ``--help`` does) needs no torch.
"""
from ..lazy import lazy_exports
from ..registry import Registry

ENCODINGS = Registry("encoding")


@ENCODINGS.register("direct", help="one gene per pixel")
def _build_direct(config, channels: int, size: int):
    from .direct import DirectEncoding

    return DirectEncoding(channels, size, mutation_rate=config.mutation_rate, eta=config.eta,
                          halve_every=config.halve_every, crossover_rate=config.crossover_rate)


# A CPPN's genes are weights, not pixels: the paper's per-weight rate and eta suit it in both recipes.
@ENCODINGS.register("cppn", help="a compositional pattern-producing network", defaults={
    "mutation_rate": 0.1, "eta": 15.0})
def _build_cppn(config, channels: int, size: int):
    from .cppn import CPPNEncoding

    return CPPNEncoding(channels, size, colour=config.colour, weight_rate=config.mutation_rate,
                        eta=config.eta, halve_every=config.halve_every)


# Unbounded genes: mutation_rate is the share of genes a mutation moves (by N(0, 0.5 * strength)).
@ENCODINGS.register("lowres", help="a coarse grid of genes per channel, enlarged bicubically, squashed "
                                   "by a sigmoid", defaults={"mutation_rate": 0.2})
def _build_lowres(config, channels: int, size: int):
    from .lowres import LowresEncoding

    return LowresEncoding(channels, size, grid=config.lowres_grid, rate=config.mutation_rate)


@ENCODINGS.register("spectral", help="the lowres grid read as 1/f-weighted cosine coefficients (coarse "
                                     "layout first, detail later)", defaults={"mutation_rate": 0.2})
def _build_spectral(config, channels: int, size: int):
    from .spectral import SpectralEncoding

    return SpectralEncoding(channels, size, grid=config.lowres_grid, rate=config.mutation_rate)


# The encoding classes, imported on first use (PEP 562).
_CLASSES = {"Encoding": ".base", "CPPNEncoding": ".cppn", "DirectEncoding": ".direct",
            "LowresEncoding": ".lowres", "SpectralEncoding": ".spectral"}

__getattr__ = lazy_exports(__name__, _CLASSES)

__all__ = ["ENCODINGS", *_CLASSES]
