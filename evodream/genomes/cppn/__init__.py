"""CPPN encoding: NEAT-style feed-forward compositional pattern-producing networks.

A genome is a small acyclic graph that maps a pixel's coordinates to its colour; rendering
evaluates the graph on every pixel at once, so the picture is resolution independent (render at
1024 for print and you get the same image, sharper). One job per module:

  network      the genome (CPPN), its inputs and topology helpers
  activations  node activations: names, codes, in-place torch functions
  mutation     the structural operators and the weight mutation, each on its own random stream
  render       the batched (small images) and per-genome (large images) renderers
  serialise    genome files: to_json, and from_json's checks of untrusted files
  encoding     CPPNEncoding, which ties them together behind the Encoding interface

Colour conversion (hls_to_rgb_, hsv_to_rgb_) lives in evodream.images and is re-exported here.
RENDER_CHUNK_FLOATS and BATCH_MAX_PIXELS are re-exported for reading; to change them, set them
on evodream.genomes.cppn.render, where the renderers read them.
"""
from ...images import hls_to_rgb_, hsv_to_rgb_
from .activations import ACTIVATION_CODE, ACTIVATIONS, OUTPUT_ACTIVATIONS
from .encoding import CPPNEncoding
from .network import CPPN, INPUTS, N_IN
from .render import BATCH_MAX_PIXELS, COLOURS, RENDER_CHUNK_FLOATS
from .serialise import JSON_MAX_CONNECTIONS, JSON_MAX_NODES

__all__ = ["ACTIVATIONS", "ACTIVATION_CODE", "BATCH_MAX_PIXELS", "COLOURS", "CPPN", "CPPNEncoding", "INPUTS",
           "JSON_MAX_CONNECTIONS", "JSON_MAX_NODES", "N_IN", "OUTPUT_ACTIVATIONS", "RENDER_CHUNK_FLOATS",
           "hls_to_rgb_", "hsv_to_rgb_"]
