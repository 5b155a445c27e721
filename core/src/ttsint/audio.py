"""WAV input and output with the standard library: 16-bit PCM mono, the format every player accepts."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import torch

__all__ = ["write_wav", "read_wav"]


def write_wav(path: str | Path, samples: torch.Tensor | np.ndarray, sample_rate: int) -> int:
    """Write float samples in [-1, 1] ([samples] or [samples, 1]) as 16-bit mono PCM; returns the count."""
    data = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    data = data.reshape(-1).astype(np.float64)
    pcm = (np.clip(np.nan_to_num(data), -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.tobytes())
    return int(pcm.shape[0])


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV as float32 in [-1, 1], [samples, channels], and its sample rate."""
    with wave.open(str(path), "rb") as src:
        if src.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM is supported, got {8 * src.getsampwidth()}-bit")
        frames = src.readframes(src.getnframes())
        channels, rate = src.getnchannels(), src.getframerate()
    data = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return data.reshape(-1, channels), rate
