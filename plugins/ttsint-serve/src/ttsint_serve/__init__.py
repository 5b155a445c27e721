"""ttsint-serve: many voices in one HTTP service; the pool, scheduler and app are reusable on their own."""

import ttsint

# Names resolve on first use: ttsint imports this package whenever it loads plugins, and the web
# stack should load only when something serves.
__getattr__, __all__ = ttsint.lazy_exports(__name__, {
    "app": ["AudioStream", "SpeechRequest", "create_app", "parse_speech_request"],
    "errors": ["APIError"],
    "formats": ["FORMATS", "AudioFormat", "Encoder", "Resampler", "wav_header"],
    "metrics": ["ServeMetrics"],
    "pool": ["PaceUnsupported", "ServedVoice", "VoicePool"],
    "scheduler": ["CapacityError", "Scheduler", "StreamRecord", "SynthesisStream"],
    "specs": ["VoiceSpec", "parse_voice_spec"],
    "wyoming": ["SentenceBuffer", "WyomingServer", "run_wyoming", "wyoming_info"],
})
