"""ttsint-inferentia: fixed-shape blocks that split, pad, mask, and compile once per shape."""

from .backends import Backend, CpuStaticBackend, NeuronBackend, ShapeError, StaticModule, get_backend
from .compiler import Compiler, RunStats, default_cache_dir
from .decoder import NeuronDecoder
from .encoders import NeuronEncoders

__all__ = [
    "Backend",
    "Compiler",
    "CpuStaticBackend",
    "NeuronBackend",
    "NeuronDecoder",
    "NeuronEncoders",
    "RunStats",
    "ShapeError",
    "StaticModule",
    "default_cache_dir",
    "get_backend",
]
