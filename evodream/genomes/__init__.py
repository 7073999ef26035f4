"""Genome encodings: ``direct`` (one gene per pixel) and ``cppn`` (a pattern-producing network)."""
from .base import Encoding
from .cppn import CPPNEncoding
from .direct import DirectEncoding

ENCODINGS = {"direct": DirectEncoding, "cppn": CPPNEncoding}

__all__ = ["Encoding", "CPPNEncoding", "DirectEncoding", "ENCODINGS"]
