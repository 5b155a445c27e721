"""ttsint-dsp: mel effects, Pace, diagnostics, streaming vocoders and mel plots."""

import ttsint

# Names resolve on first use, so loading the plugin entry point imports none of the blocks.
__getattr__, __all__ = ttsint.lazy_exports(__name__, {
    "diagnostics": ["ChunkStats", "NaNGuard", "Tap", "chunk_stats"],
    "effects": ["FrameEffect", "Gain", "MelEffect", "MelShift", "Normalize", "Smooth", "Tilt", "db_to_log"],
    "griffinlim": ["GriffinLim"],
    "mel": ["MelInverse", "MelSpec", "log_mel", "mel_filterbank", "stft_analysis"],
    "pace": ["Pace"],
    "pghi": ["PGHI", "pghi_phase"],
    "plot": ["plot_mel"],
    "vocoders": ["NetworkVocoder", "Vocoder", "mel_input"],
})
