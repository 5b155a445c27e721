"""ttsint-piper: any Piper voice (VITS exported to ONNX, with its .onnx.json) as a ttsint addon."""

import ttsint

# Names resolve on first use, so loading the plugin entry point imports neither onnx nor onnxruntime.
__getattr__, __all__ = ttsint.lazy_exports(
    __name__,
    {
        "blocks": ["PiperDecoder", "PiperEncoder", "PiperFlow"],
        "config": ["PiperConfig"],
        "espeak": ["EspeakLibrary", "espeak_library"],
        "frontend": ["PiperPhonemes", "phonemes_to_ids", "phonemize"],
        "importer": ["import_voice", "installed_voices"],
    },
)
