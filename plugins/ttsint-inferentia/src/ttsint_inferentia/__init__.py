"""ttsint-inferentia: fixed-shape blocks that split, pad, mask, and compile once per shape."""

import ttsint

# Names resolve on first use, so loading the plugin entry point imports none of the blocks.
__getattr__, __all__ = ttsint.lazy_exports(__name__, {
    "backends": ["Backend", "CpuStaticBackend", "NeuronBackend", "ShapeError", "StaticModule", "get_backend"],
    "compiler": ["Compiler", "RunStats", "default_cache_dir"],
    "decoder": ["NeuronDecoder"],
    "encoders": ["NeuronEncoders"],
})
