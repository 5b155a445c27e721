"""Response formats for streamed audio: WAV with a header written before the length is known, and raw PCM."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import torch
import ttsint

__all__ = ["AudioFormat", "FORMATS", "streaming_wav_header"]

UNKNOWN_SIZE = 0xFFFFFFFF
"""What a streamed WAV writes for the RIFF and data sizes: players read such a file until it ends."""


def streaming_wav_header(sample_rate: int, channels: int = 1, bits: int = 16) -> bytes:
    """A 44-byte RIFF/WAVE header for 16-bit PCM whose sizes are unknown (0xFFFFFFFF), for streaming."""
    block_align = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", UNKNOWN_SIZE) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block_align,
                                    block_align, bits)
            + b"data" + struct.pack("<I", UNKNOWN_SIZE))


@dataclass(frozen=True)
class AudioFormat:
    """One ``response_format``: its media type and whether a header precedes the samples."""

    name: str
    media_type: str
    header: bool

    def start(self, sample_rate: int) -> bytes:
        """The bytes sent before the first samples."""
        return streaming_wav_header(sample_rate) if self.header else b""

    def encode(self, frames: torch.Tensor) -> bytes:
        """A chunk's waveform ([samples, 1], floats in [-1, 1]) as 16-bit little-endian mono PCM."""
        return ttsint.to_pcm16(frames)


FORMATS: dict[str, AudioFormat] = {
    "wav": AudioFormat("wav", "audio/wav", header=True),
    "pcm": AudioFormat("pcm", "audio/pcm", header=False),
}
"""Supported ``response_format`` values; OpenAI's ``pcm`` is raw 16-bit little-endian mono."""
