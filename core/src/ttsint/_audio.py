"""WAV input and output with the standard library: 16-bit PCM mono, the format every player accepts."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Any

import numpy as np

from ._arrays import to_numpy

__all__ = ["WavWriter", "NpyWriter", "write_wav", "read_wav", "to_pcm16"]


def to_pcm16(samples: Any) -> bytes:
    """Float samples in [-1, 1] (any shape, flattened; torch or NumPy) as little-endian 16-bit PCM bytes;
    NaN becomes 0."""
    data = to_numpy(samples).reshape(-1).astype(np.float64)
    return (np.clip(np.nan_to_num(data), -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


class WavWriter:
    """Writes a 16-bit mono WAV chunk by chunk, so a stream of any length never sits in memory.

    The header's sizes are patched as data arrives (the file must be seekable).
    """

    def __init__(self, path: str | Path, sample_rate: int) -> None:
        self.path = Path(path)
        self.samples = 0
        self._out = wave.open(str(path), "wb")
        self._out.setnchannels(1)
        self._out.setsampwidth(2)
        self._out.setframerate(int(sample_rate))

    def write(self, samples: Any) -> None:
        """Append float samples ([samples] or [samples, 1])."""
        pcm = to_pcm16(samples)
        self._out.writeframesraw(pcm)
        self.samples += len(pcm) // 2

    def close(self) -> None:
        self._out.close()  # writes the final sizes into the header

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NpyWriter:
    """Writes frames [T, C] to a .npy file chunk by chunk; the header is rewritten with T on close."""

    _HEADER = 128  # bytes reserved for the header, enough for any shape a stream can reach

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows = 0
        self.channels: int | None = None
        self._out = open(path, "wb")
        self._out.write(b"\0" * self._HEADER)

    def write(self, frames: Any) -> None:
        data = to_numpy(frames)
        data = data.astype("<f4").reshape(data.shape[0], -1)
        if self.channels is None:
            self.channels = data.shape[1]
        elif data.shape[1] != self.channels:
            raise ValueError(f"chunk has {data.shape[1]} channels, earlier ones {self.channels}")
        self._out.write(data.tobytes())
        self.rows += data.shape[0]

    def close(self) -> None:
        shape = (self.rows, self.channels or 0)
        header = f"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}"
        prefix = b"\x93NUMPY\x01\x00" + (self._HEADER - 10).to_bytes(2, "little")
        self._out.seek(0)
        self._out.write(prefix + header.ljust(self._HEADER - 11).encode("latin1") + b"\n")
        self._out.close()

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_wav(path: str | Path, samples: Any, sample_rate: int) -> int:
    """Write float samples in [-1, 1] ([samples] or [samples, 1]) as 16-bit mono PCM; returns the count."""
    with WavWriter(path, sample_rate) as out:
        out.write(samples)
    return out.samples


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV as float32 in [-1, 1], [samples, channels], and its sample rate."""
    with wave.open(str(path), "rb") as src:
        if src.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM is supported, got {8 * src.getsampwidth()}-bit")
        frames = src.readframes(src.getnframes())
        channels, rate = src.getnchannels(), src.getframerate()
    data = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return data.reshape(-1, channels), rate
