"""StatefulDecoder's step network on onnxruntime streams the same mel as the windowed Decoder on torch."""

from __future__ import annotations

import pytest
import ttsint


@pytest.mark.slow
def test_stateful_decoder_on_onnxruntime_equals_windowed_torch(tmp_path):
    def mel_voice(decoder: dict) -> ttsint.Voice:
        voice = ttsint.Voice.load("en-rms", {"stack.0.streamable_block.stack.1": decoder})
        return ttsint.Voice(voice.addon, stack=voice.addon.stack[:1])

    windowed = mel_voice({"type": "Decoder"})
    onnx = mel_voice({"type": "StatefulDecoder", "chunk_frames": 20, "first_chunk_frames": 3,
                      "runtime": {"type": "onnxruntime", "cache_dir": str(tmp_path)}})
    assert onnx.block.streamable_block.stack[1].network.runtime.name == "onnxruntime"
    text = "Exact on onnxruntime too, chunk after chunk, with steps smaller than the lag."
    # The windowed Decoder gives en-rms's NumPy, the StatefulDecoder (a torch block) tensors.
    want = ttsint.to_torch(ttsint.concat_chunks(windowed.block.stream(windowed.encode(text), None)))
    got = ttsint.to_torch(ttsint.concat_chunks(onnx.block.stream(onnx.encode(text), None)))
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= 1e-4
