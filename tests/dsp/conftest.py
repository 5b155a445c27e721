"""Shared fixtures for the ttsint-dsp tests: a synthetic upstream and a mel of a known waveform."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest
import torch
import ttsint
from ttsint_dsp import MelSpec, log_mel


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Small FFTs and convolutions run faster on one thread, and much faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def chunked(frames: torch.Tensor, size: int) -> Iterator[ttsint.Chunk]:
    """A synthetic upstream: ``frames`` in chunks of ``size``."""
    for start in range(0, frames.shape[0], size):
        yield ttsint.Chunk(frames=frames[start : start + size], start=start)


@pytest.fixture
def run() -> Callable[[ttsint.StreamableBlock, torch.Tensor, int], torch.Tensor]:
    """Stream ``frames`` through ``block`` from upstream chunks of ``size`` and join the output."""

    def go(block: ttsint.StreamableBlock, frames: torch.Tensor, size: int) -> torch.Tensor:
        return ttsint.concat_chunks(block.stream({}, chunked(frames, size)))

    return go


@pytest.fixture(scope="session")
def spec() -> MelSpec:
    return MelSpec(sample_rate=16000, n_fft=1024, hop_length=256, win_length=1024, n_mels=80, fmax=8000.0)


@pytest.fixture(scope="session")
def voiced_mel(spec: MelSpec) -> torch.Tensor:
    """Log mel [125, 80] of two seconds of a gliding, pulsing harmonic tone: speech-like, and invertible."""
    sr, n = spec.sample_rate, 2 * spec.sample_rate
    t = torch.arange(n, dtype=torch.float64) / sr
    f0 = 120 + 60 * torch.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * torch.cumsum(f0, 0) / sr
    wave = sum(torch.sin(k * phase) / k for k in range(1, 20)) * (0.5 + 0.5 * torch.sin(2 * math.pi * 3 * t))
    return log_mel((0.15 * wave).float(), spec)[: n // spec.hop_length]


@pytest.fixture(scope="session")
def random_mel() -> torch.Tensor:
    return torch.randn(97, 80, generator=torch.Generator().manual_seed(1)) - 4.0
