"""StatefulDecoder on en-rms: its shipped step network streams the same mel as whole-utterance decoding."""

from __future__ import annotations

import pytest
import torch
import ttsint
from ttsint.testing import ArrayStream

WINDOWED = {"type": "Decoder", "chunk_frames": 4096, "first_chunk_frames": 16, "chunk_growth": 16}
SCHEDULES = [
    {},  # the block's defaults
    {"chunk_frames": 7, "first_chunk_frames": 1, "chunk_growth": None},  # steps far smaller than the lag
    {"chunk_frames": 40, "first_chunk_frames": 3, "chunk_growth": 2},
]
TEXTS = ["A.", "Hello there.",
         "Streaming must not change a single frame of the spectrogram, however it is cut, and however long."]


def _mel_voice(decoder: dict) -> ttsint.Voice:
    voice = ttsint.Voice.load("en-rms", {"stack.0.streamable_block.stack.1": decoder})
    return ttsint.Voice(voice.addon, stack=voice.addon.stack[:1])


@pytest.fixture(scope="module")
def windowed() -> ttsint.Voice:
    return _mel_voice(WINDOWED)


@pytest.mark.parametrize("schedule", SCHEDULES, ids=["default", "small", "growing"])
def test_stateful_stack_equals_windowed_decoding(windowed, schedule):
    stateful = _mel_voice({"type": "StatefulDecoder", **schedule})
    for text in TEXTS:
        # Both give en-rms's NumPy (the blocks take either kind); compared as tensors.
        want = ttsint.to_torch(ttsint.concat_chunks(windowed.block.stream(windowed.encode(text), None)))
        chunks = list(stateful.block.stream(stateful.encode(text), None))
        got = ttsint.to_torch(ttsint.concat_chunks(chunks))
        assert got.shape == want.shape
        assert (got - want).abs().max().item() <= 1e-4, text
        first = schedule.get("first_chunk_frames", 16)
        if len(want) > first + 62:  # a shorter utterance ends before its first step, so comes at once
            assert len(chunks[0]) == first


@pytest.mark.parametrize("length", [1, 2, 61, 62, 63, 200])
@pytest.mark.parametrize("upstream_chunk", [1, 5, 300])
def test_any_length_and_upstream_chunking_equals_whole_decoding(windowed, length, upstream_chunk):
    stateful = _mel_voice({"type": "StatefulDecoder", "chunk_frames": 9, "first_chunk_frames": 2,
                           "chunk_growth": None})
    decoder = windowed.block.streamable_block.stack[1]
    block = stateful.block.streamable_block.stack[1]
    frames = torch.randn(length, 256, generator=torch.Generator().manual_seed(length)) * 0.5
    whole = decoder.decode_all(frames)
    streamed = ttsint.concat_chunks(block.stream({}, ArrayStream(frames, upstream_chunk).stream({}, None)))
    assert streamed.shape == whole.shape
    assert (streamed - whole).abs().max().item() <= 1e-4
    assert (block.decode_all(frames) - whole).abs().max().item() <= 1e-4


def test_state_is_fresh_per_utterance(windowed):
    stateful = _mel_voice({"type": "StatefulDecoder", "chunk_frames": 32, "first_chunk_frames": 4})
    text = "The same sentence twice."
    first = ttsint.to_torch(ttsint.concat_chunks(stateful.block.stream(stateful.encode(text), None)))
    stateful.block.stream(stateful.encode("Something else entirely."), None).__next__()  # left unfinished
    again = ttsint.to_torch(ttsint.concat_chunks(stateful.block.stream(stateful.encode(text), None)))
    assert torch.equal(first, again)


@pytest.mark.parametrize("params, key", [({"chunk_frames": 0}, "chunk_frames"),
                                         ({"first_chunk_frames": 1.5}, "first_chunk_frames"),
                                         ({"chunk_growth": 1}, "chunk_growth")])
def test_bad_parameters_name_their_key(params, key):
    with pytest.raises(ttsint.ConfigError, match=key):
        _mel_voice({"type": "StatefulDecoder", **params})


def test_fixed_shape_runtime_is_refused_at_build_time(tmp_path):
    with pytest.raises(ttsint.ConfigError, match="compiles one program per input shape"):
        _mel_voice({"type": "StatefulDecoder", "runtime": {"type": "cpu-static", "cache_dir": str(tmp_path)}})
