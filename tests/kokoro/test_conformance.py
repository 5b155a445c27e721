"""ttsint's conformance checks on the Kokoro blocks (the checks core runs on every first-party block)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import ttsint
from ttsint.testing import BlockSample, parametrize_with_checks


def kokoro_addon() -> ttsint.Addon:
    return ttsint.load_addon("kokoro-af_heart")


@pytest.mark.slow
@parametrize_with_checks([
    BlockSample({"type": "KokoroNetwork"}, addon=kokoro_addon, utt="Hi."),
    BlockSample({"type": "KokoroAudio", "chunk_samples": 1000},
                utt={"audio": np.random.default_rng(0).standard_normal((4_800, 1)).astype(np.float32),
                     "durations": np.array([2, 3, 3])}),
], registered=["KokoroNetwork", "KokoroAudio"])
def test_kokoro_blocks(library: Path, sample: BlockSample, check) -> None:
    check(sample)
