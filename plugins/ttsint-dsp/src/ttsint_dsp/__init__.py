"""ttsint-dsp: mel effects, Pace, diagnostics, streaming vocoders and mel plots."""

from .diagnostics import ChunkStats, NaNGuard, Tap, chunk_stats
from .effects import FrameEffect, Gain, MelEffect, MelShift, Normalize, Smooth, Tilt, db_to_log
from .griffinlim import GriffinLim
from .mel import MelSpec, log_mel, mel_filterbank
from .pace import Pace
from .plot import plot_mel
from .vocoders import NetworkVocoder, Vocoder, mel_input

__all__ = [
    "ChunkStats",
    "FrameEffect",
    "Gain",
    "GriffinLim",
    "MelEffect",
    "MelShift",
    "MelSpec",
    "NaNGuard",
    "NetworkVocoder",
    "Normalize",
    "Pace",
    "Smooth",
    "Tap",
    "Tilt",
    "Vocoder",
    "chunk_stats",
    "db_to_log",
    "log_mel",
    "mel_filterbank",
    "mel_input",
    "plot_mel",
]
