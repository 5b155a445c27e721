"""ttsint-inferentia: fixed-shape blocks that split, pad and mask; runtimes that compile once per shape
(torch.export, torch_neuronx, or ONNX Runtime sessions pinned per bucket)."""

import ttsint

# Names resolve on first use, so loading the plugin entry point imports none of the blocks.
__getattr__, __all__ = ttsint.lazy_exports(__name__, {
    "decoder": ["NeuronDecoder"],
    "encoders": ["NeuronEncoders"],
    "runtimes": ["CpuStaticRuntime", "NeuronRuntime", "StaticExecutable", "StaticRuntime"],
    "onnx_static": ["OnnxStaticRuntime", "OnnxStaticExecutable"],
    "shapes": ["PerShapeExecutable"],
})
