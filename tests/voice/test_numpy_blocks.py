"""en-rms's default blocks compute in NumPy and agree with torch, on the voice's own output.

PGHI is checked against an independent torch rendering of the same phases (GriffinLim with no
iterations and PGHI phases: torch.istft over the whole utterance), the Upsampler against torch's
repeat_interleave, and both kinds of input must give the same values, each in its own kind. That the
CLI path imports no torch is tests/test_torch_free.py's (TORCH_FREE_VOICES).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import ttsint
from ttsint_dsp import PGHI, GriffinLim
from ttsint_encoders import Upsampler

TEXTS = ["Hello world.", "The birch canoe slid on the smooth planks, and nobody on the shore saw it go."]
#: The conformance tolerance of PGHI streaming (tests/test_conformance.py).
PGHI_TOLERANCE = 2e-5


@pytest.fixture(scope="module")
def encoded() -> list[dict]:
    """Each text's utterance after en-rms's encoders (symbols, text_encoding, durations) and its mel."""
    voice = ttsint.Voice.load("en-rms")
    mel_voice = ttsint.Voice(voice.addon, stack=voice.addon.stack[:1])
    out = []
    for text in TEXTS:
        utt = voice.block.stack[0].sequence_block.forward(voice.encode(text))
        mel = ttsint.to_numpy(mel_voice.synthesize(text))
        out.append({"utt": {k: ttsint.to_numpy(v) for k, v in utt.items()}, "mel": mel})
    voice.close()
    return out


def _stream(block: ttsint.StreamableBlock, utt: dict, frames, size: int) -> list[ttsint.Chunk]:
    upstream = None
    if frames is not None:
        starts = range(0, len(frames), size)
        upstream = iter([ttsint.Chunk(frames=frames[i : i + size], start=i) for i in starts])
    return list(block.stream(utt, upstream))


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_pghi_in_numpy_matches_a_torch_rendering_of_en_rms_mel(encoded, index: int) -> None:
    mel = encoded[index]["mel"]
    assert mel.shape[1] == 80 and mel.dtype == np.float32
    reference = GriffinLim(16000, 256, 80, fmax=8000.0, n_iter=0, phase_init="pghi").vocode_whole(
        torch.from_numpy(mel))
    for size in (1, 7, len(mel)):
        chunks = _stream(PGHI(16000, 256, 80, fmax=8000.0), {}, mel, size)
        assert all(type(c.frames) is np.ndarray and c.frames.dtype == np.float32 for c in chunks)
        out = np.concatenate([c.frames for c in chunks])
        assert out.shape == (len(mel) * 256, 1)
        # measured 1.5e-7 ("Hello world.") and 1.8e-6 (the long sentence) against the torch PGHI it replaced
        assert float(np.abs(out - reference.numpy()).max()) <= PGHI_TOLERANCE
    as_torch = PGHI(16000, 256, 80, fmax=8000.0).vocode(torch.from_numpy(mel))
    assert isinstance(as_torch, torch.Tensor)
    assert np.array_equal(as_torch.numpy(), out)


@pytest.mark.parametrize("pace", [1.0, 0.8, 1.7])
def test_upsampler_in_numpy_repeats_en_rms_encodings_as_torch_does(encoded, pace: float) -> None:
    for item in encoded:
        utt = item["utt"]
        durations = torch.from_numpy(utt["durations"])
        counts = torch.clamp(torch.round(durations.float() / pace), min=0).long()
        encoding = torch.from_numpy(utt["text_encoding"])
        want = torch.index_select(encoding, 0, torch.repeat_interleave(torch.arange(len(counts)), counts))
        block = Upsampler(pace=pace, chunk_frames=16)
        numpy_out = _stream(block, {"text_encoding": utt["text_encoding"], "durations": utt["durations"]},
                            None, 0)
        torch_out = _stream(block, {"text_encoding": encoding, "durations": durations}, None, 0)
        assert all(type(c.frames) is np.ndarray for c in numpy_out)
        assert all(isinstance(c.frames, torch.Tensor) for c in torch_out)
        assert np.array_equal(np.concatenate([c.frames for c in numpy_out]), want.numpy())
        assert torch.equal(torch.cat([c.frames for c in torch_out]), want)
        assert np.array_equal(block.frame_counts({"durations": utt["durations"]}), counts.numpy())


def test_flite_phones_gives_numpy_int64() -> None:
    voice_frontend = ttsint.load_addon("en-rms").frontend
    utt = voice_frontend("Hello world.")
    for key in ("symbols", "word_ids"):
        assert type(utt[key]) is np.ndarray and utt[key].dtype == np.int64
    assert len(utt["symbols"]) == len(utt["word_ids"]) == 10

