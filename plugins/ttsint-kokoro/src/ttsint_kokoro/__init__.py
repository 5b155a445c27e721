"""ttsint-kokoro: Kokoro-82M voices (StyleTTS 2 + iSTFTNet, int8 ONNX) as ttsint addons, one per pack."""

import ttsint

# Names resolve on first use, so loading the plugin entry point imports neither numpy nor onnxruntime.
__getattr__, __all__ = ttsint.lazy_exports(__name__, {
    "blocks": ["KokoroNetwork", "KokoroAudio"],
    "frontend": ["KokoroPhonemes"],
    "library": ["import_voices", "installed", "library_dir"],
    "model": ["KokoroSession", "get_session", "timed_model"],
    "voices": ["parse_mix", "read_packs"],
})
