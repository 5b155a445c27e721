"""Response formats: each OpenAI ``response_format`` encoded chunk by chunk as the voice makes audio.

``wav`` and ``pcm`` are written here (a header and 16-bit samples); ``mp3``, ``opus`` (in Ogg),
``aac`` (ADTS) and ``flac`` go through PyAV, FFmpeg's libraries, which ship these encoders in
their wheel. Each encoder returns the bytes its muxer has finished after every chunk, so the
first bytes leave as soon as the codec's own frame and look-ahead are filled. A ``Resampler``
converts the voice's rate to the one asked for with soxr's streaming resampler.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["FORMATS", "PCM_DEFAULT_RATE", "AudioFormat", "Encoder", "Resampler", "UNKNOWN_SIZE",
           "resampled_length", "warm", "wav_header"]

UNKNOWN_SIZE = 0xFFFFFFFF
"""The RIFF and data sizes of a WAV whose length is not known when its header is sent: FFmpeg, libsndfile,
sox and Python's ``wave`` then read every sample up to the end of the file, but ``wave.getnframes()``,
``soxi`` and ``ffprobe``'s duration report the header's count (2,147,483,647 frames). The server sends
exact sizes instead whenever it learns the length before the first byte (see the serve README)."""


def wav_header(sample_rate: int, samples: int | None = None, channels: int = 1, bits: int = 16) -> bytes:
    """A 44-byte RIFF/WAVE header for 16-bit PCM: exact sizes for ``samples``, else the streaming sizes."""
    block_align = channels * bits // 8
    data = UNKNOWN_SIZE if samples is None else samples * block_align
    riff = UNKNOWN_SIZE if samples is None else 36 + data
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block_align,
                                    block_align, bits)
            + b"data" + struct.pack("<I", data))


def to_pcm16(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] as 16-bit little-endian PCM (clipped, rounded)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


class Encoder:
    """Encodes one response: ``encode(samples)`` per chunk, then ``finish()``; each returns bytes to send."""

    def encode(self, samples: np.ndarray) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes:
        return b""

    def close(self) -> None:
        """Release the codec when a response ends early (a cancelled stream)."""


class PcmEncoder(Encoder):
    """Raw 16-bit little-endian mono, optionally after a WAV header."""

    def __init__(self, sample_rate: int, header: bool) -> None:
        self.rate = sample_rate
        self.pending = wav_header(sample_rate) if header else b""

    def set_length(self, samples: int) -> None:
        """Before the first bytes: the header carries exact sizes for ``samples`` samples."""
        if self.pending:
            self.pending = wav_header(self.rate, samples)

    def encode(self, samples: np.ndarray) -> bytes:
        out, self.pending = self.pending + to_pcm16(samples), b""
        return out


class _Sink(io.RawIOBase):
    """A write-only, unseekable file for PyAV's muxer: collects what it writes until taken."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        self.data += b
        return len(b)

    def take(self) -> bytes:
        out, self.data = bytes(self.data), bytearray()
        return out


class AvEncoder(Encoder):
    """An FFmpeg encoder and muxer writing to memory; packets are flushed to the sink as they are muxed."""

    def __init__(self, container: str, codec: str, sample_rate: int, options: dict[str, str],
                 container_options: dict[str, str]) -> None:
        import av

        self.sink = _Sink()
        self.out = av.open(self.sink, mode="w", format=container,
                           container_options={"flush_packets": "1", **container_options})
        self.stream = self.out.add_stream(codec, rate=sample_rate, options=options)
        self.stream.layout = "mono"
        self.ctx = self.stream.codec_context
        formats = [f.name for f in self.ctx.codec.audio_formats or []]
        self.ctx.format = next((f for f in ("flt", "fltp", "s16", "s16p") if f in formats), "s16")
        self.rate = sample_rate
        self.frame_size = self.ctx.frame_size or 0
        self.pts = 0
        self.queue = np.zeros(0, dtype=np.float32)
        self.closed = False

    def _frame(self, samples: np.ndarray) -> object:
        import av

        fmt = self.ctx.format.name
        if fmt in ("s16", "s16p"):
            data = (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype(np.int16)[None, :]
        else:
            data = samples.astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout="mono")
        frame.sample_rate = self.rate
        frame.pts = self.pts
        self.pts += len(samples)
        return frame

    def _mux(self, frame: object | None) -> None:
        for packet in self.stream.encode(frame):
            self.out.mux(packet)

    def encode(self, samples: np.ndarray) -> bytes:
        self.queue = np.concatenate([self.queue, samples.astype(np.float32)])
        size = self.frame_size or len(self.queue)
        while len(self.queue) >= size and len(self.queue) > 0:
            self._mux(self._frame(self.queue[:size]))
            self.queue = self.queue[size:]
        return self.sink.take()

    def finish(self) -> bytes:
        if len(self.queue):
            self._mux(self._frame(self.queue))  # a short last frame: these encoders accept one
            self.queue = self.queue[:0]
        self._mux(None)
        self.out.close()
        self.closed = True
        return self.sink.take()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.out.close()
            except Exception:  # a half-written stream may fail to close cleanly; it is being dropped
                pass


@dataclass(frozen=True)
class AudioFormat:
    """One ``response_format``: OpenAI's media type, the rates it can carry, and how to make its encoder."""

    name: str
    media_type: str
    make: Callable[[int], Encoder]
    rates: tuple[int, ...] | None = None
    """Rates the codec takes (None: any); another rate is resampled to ``fallback_rate``."""
    fallback_rate: int | None = None

    def rate_for(self, rate: int) -> int:
        """The rate this format carries audio made at ``rate``."""
        if self.rates is None or rate in self.rates:
            return rate
        return self.fallback_rate or rate

    def encoder(self, sample_rate: int) -> Encoder:
        return self.make(sample_rate)


_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
_AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)

FORMATS: dict[str, AudioFormat] = {
    "mp3": AudioFormat("mp3", "audio/mpeg", lambda r: AvEncoder("mp3", "libmp3lame", r, {"b": "64k"},
                                                               {"write_xing": "0", "id3v2_version": "0"}),
                    _MP3_RATES, 24000),
    "opus": AudioFormat("opus", "audio/opus", lambda r: AvEncoder("ogg", "libopus", r,
                                                                {"b": "32k", "application": "audio",
                                                                 "frame_duration": "20"},
                                                                {"page_duration": "20000"}),
                     _OPUS_RATES, 48000),
    "aac": AudioFormat("aac", "audio/aac", lambda r: AvEncoder("adts", "aac", r, {"b": "64k"}, {}),
                    _AAC_RATES, 24000),
    "flac": AudioFormat("flac", "audio/flac",
                     lambda r: AvEncoder("flac", "flac", r, {"frame_size": "1024"}, {})),
    "wav": AudioFormat("wav", "audio/wav", lambda r: PcmEncoder(r, header=True)),
    "pcm": AudioFormat("pcm", "audio/pcm", lambda r: PcmEncoder(r, header=False)),
}
"""OpenAI's ``response_format`` values, with the content types OpenAI answers them with."""

PCM_DEFAULT_RATE = 24000
"""OpenAI's ``pcm`` is 24 kHz; voice-agent frameworks play it at that rate whatever the voice's own."""


def resampled_length(samples: int, in_rate: int, out_rate: int) -> int:
    """How many samples ``Resampler`` makes from ``samples`` in all: soxr's streaming total, the exact
    count rounded half up (checked against soxr in tests/serve/test_wav_length.py)."""
    if in_rate == out_rate:
        return samples
    return (2 * samples * out_rate + in_rate) // (2 * in_rate)


class Resampler:
    """soxr's streaming resampler: chunks in, chunks out, equal to resampling the whole within 1e-4."""

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate, self.out_rate = in_rate, out_rate
        self._stream = None
        if in_rate != out_rate:
            import soxr

            self._stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality="HQ")

    def __call__(self, samples: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return samples.astype(np.float32, copy=False)
        return self._stream.resample_chunk(samples.astype(np.float32, copy=False), last=last)


def warm() -> None:
    """Import PyAV and soxr and open each encoder once, so a server's first mp3 does not pay ~0.2 s for it."""
    for fmt in FORMATS.values():
        encoder = fmt.encoder(fmt.rate_for(24000))
        encoder.encode(np.zeros(64, dtype=np.float32))
        encoder.close()
    Resampler(16000, 24000)(np.zeros(64, dtype=np.float32))
