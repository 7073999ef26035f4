"""Genome encodings: ``direct`` (one gene per pixel) and ``cppn`` (a pattern-producing network).

Each registers in :data:`ENCODINGS` a factory ``(config, channels, size) -> Encoding`` and the
recipe settings it implies where the user left them open.
"""
from ..registry import Registry
from .base import Encoding
from .cppn import CPPNEncoding
from .direct import DirectEncoding

ENCODINGS = Registry("encoding")


@ENCODINGS.register("direct", help="one gene per pixel")
def _build_direct(config, channels: int, size: int) -> DirectEncoding:
    return DirectEncoding(channels, size, mutation_rate=config.mutation_rate, eta=config.eta,
                          halve_every=config.halve_every, crossover_rate=config.crossover_rate)


# A CPPN's genes are weights, not pixels: the paper's per-weight rate and eta suit it in both recipes.
@ENCODINGS.register("cppn", help="a compositional pattern-producing network", defaults={
    "mutation_rate": 0.1, "eta": 15.0})
def _build_cppn(config, channels: int, size: int) -> CPPNEncoding:
    return CPPNEncoding(channels, size, colour=config.colour, weight_rate=config.mutation_rate, eta=config.eta)


__all__ = ["Encoding", "CPPNEncoding", "DirectEncoding", "ENCODINGS"]
