"""Fixtures for the ttsint-inferentia tests: the demo voice, its fixed-shape twins, and symbol sequences."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import ttsint

# The suite is many small calls; one intra-op thread avoids OpenMP stalls on a busy 2-core machine.
torch.set_num_threads(1)

SWAP = {
    "stack.0.sequence_block.type": "NeuronEncoders",
    "stack.0.streamable_block.stack.1.type": "NeuronDecoder",
}


def cpu_static(cache_dir: Path) -> dict[str, str]:
    """The ``runtime`` table for cpu-static with its compile cache in ``cache_dir``."""
    return {"type": "cpu-static", "cache_dir": str(cache_dir)}


def neuron_overrides(cache_dir: Path, **extra: Any) -> dict[str, Any]:
    """The demo's Encoders and Decoder swapped for the fixed-shape blocks, on cpu-static (cached there)."""
    return {**SWAP, "stack.0.sequence_block.runtime": cpu_static(cache_dir),
            "stack.0.streamable_block.stack.1.runtime": cpu_static(cache_dir), **extra}


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("compiled")


@pytest.fixture(scope="session")
def ref_voice() -> ttsint.Voice:
    return ttsint.Voice.load("demo")


@pytest.fixture(scope="session")
def neuron_voice(cache_dir: Path) -> ttsint.Voice:
    """Buckets [32, 64, 128, 256] (fewer compiles than the default's seven)."""
    return ttsint.Voice.load("demo", overrides=neuron_overrides(
        cache_dir, **{"stack.0.sequence_block.buckets": [32, 64, 128, 256]}))


@pytest.fixture(scope="session")
def small_voice(cache_dir: Path) -> ttsint.Voice:
    """Buckets [32, 64]: anything over 64 symbols splits."""
    return ttsint.Voice.load("demo", overrides=neuron_overrides(
        cache_dir, **{"stack.0.sequence_block.buckets": [32, 64]}))


@pytest.fixture(scope="session")
def symbols(ref_voice: ttsint.Voice) -> Callable[[int], torch.Tensor]:
    """``symbols(n)``: n random symbol ids with spaces between word-like runs, the same for the same n."""
    table = ref_voice.addon.frontend.symbols
    space = table.index(" ")
    letters = [i for i in range(1, len(table)) if i != space]

    def make(n: int) -> torch.Tensor:
        rng = random.Random(n)
        return torch.tensor([space if rng.random() < 0.18 else rng.choice(letters) for _ in range(n)])

    return make


def mel(voice: ttsint.Voice, symbols: torch.Tensor) -> torch.Tensor:
    return ttsint.concat_chunks(voice.stream_utterance({"symbols": symbols}))
