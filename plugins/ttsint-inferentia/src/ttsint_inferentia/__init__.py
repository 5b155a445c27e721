"""ttsint-inferentia: fixed-shape blocks that split, pad and mask; runtimes that compile once per shape."""

import ttsint

# Names resolve on first use, so loading the plugin entry point imports none of the blocks.
__getattr__, __all__ = ttsint.lazy_exports(__name__, {
    "decoder": ["NeuronDecoder"],
    "encoders": ["NeuronEncoders"],
    "runtimes": ["CpuStaticRuntime", "NeuronRuntime", "StaticExecutable", "StaticRuntime"],
})
