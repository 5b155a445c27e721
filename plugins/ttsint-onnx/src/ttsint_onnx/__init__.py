"""ttsint-onnx: run an addon's networks on ONNX Runtime, converted from their torch.export programs once."""

import ttsint

# Names resolve on first use, so loading the plugin entry point imports neither onnx nor onnxruntime.
__getattr__, __all__ = ttsint.lazy_exports(__name__, {
    "convert": ["convert", "onnx_path"],
    "graph": ["GraphLimits", "NoiseInput", "check_model", "decoder_cut", "extract", "load_checked",
              "model_digest", "replace_noise", "save_model", "split_model", "symbolic_batch", "tensor_of_op"],
    "runtime": ["OnnxExecutable", "OnnxRuntime"],
})
