"""Every block type that core and the first-party plugins register passes every conformance check.

Each registered name needs a sample below; a new block without one fails its ``NAME-has_sample`` case.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from pathlib import Path

import torch
import ttsint
from ttsint.testing import BlockSample, parametrize_with_checks

FIRST_PARTY = {"ttsint", "ttsint-encoders", "ttsint-dsp", "ttsint-inferentia", "ttsint-voice-en"}
_CACHE = tempfile.TemporaryDirectory(prefix="ttsint-conformance-")  # compile caches, removed at exit


def _frames(t: int, c: int, seed: int, offset: float = 0.0) -> torch.Tensor:
    return torch.randn(t, c, generator=torch.Generator().manual_seed(seed)) + offset


MEL = _frames(150, 80, 0, -4.0)  # log mel, as the decoder makes it
HIDDEN = _frames(150, 64, 1)  # the demo decoder's input width
DURATIONS = {"symbols": torch.arange(1, 11), "durations": torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])}
TEXT = "Conformance checks run on every block."


@functools.lru_cache(maxsize=1)
def _encoded() -> ttsint.Utterance:
    voice = ttsint.Voice.load("demo")
    return voice.block.sequence_block.forward(voice.encode(TEXT))


class _ConvVocoder(torch.nn.Module):
    """Three mel frames of context to 256 samples per frame: a small stand-in neural vocoder."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(80, 8, 3, padding=1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(self.conv(mel.transpose(1, 2))).transpose(1, 2)
        return y.repeat_interleave(32, dim=2).reshape(1, -1)


@functools.lru_cache(maxsize=1)
def _vocoder_addon() -> ttsint.Addon:
    """The demo addon plus an exported vocoder network, for NetworkVocoder."""
    demo = ttsint.load_addon("demo")
    directory = Path(_CACHE.name) / "with-vocoder"
    directory.mkdir()
    for file in demo.path.glob("*.pt2"):  # copies: a symlink out of the addon folder would be refused
        shutil.copyfile(file, directory / file.name)
    torch.manual_seed(0)
    length = torch.export.Dim("length", min=1, max=4096)
    exported = torch.export.export(_ConvVocoder().eval(), (torch.randn(1, 9, 80),),
                                   dynamic_shapes=({1: length},))
    torch.export.save(exported, directory / "vocoder.pt2")
    text = (demo.path / "addon.toml").read_text(encoding="utf-8")
    stack = text.index("[[stack]]")
    vocoder = ('[networks.vocoder]\nfile = "vocoder.pt2"\nrole = "vocoder"\ninputs = ["mel"]\n'
               'outputs = ["audio"]\nreceptive_field = 1\n\n')
    (directory / "addon.toml").write_text(text[:stack] + vocoder + text[stack:], encoding="utf-8")
    ttsint.stamp_digests(directory / "addon.toml")
    return ttsint.load_addon(directory)


_CPU_STATIC = {"type": "cpu-static", "cache_dir": _CACHE.name}
SAMPLES = [
    # core
    BlockSample({"type": "SequenceBlockContainer", "blocks": [{"type": "Pace", "factor": 1.5}]},
                utt=DURATIONS),
    BlockSample({"type": "StreamableStack", "stack": [{"type": "Gain", "db": -3}, {"type": "Smooth"}]},
                upstream=MEL, lookahead=17),
    BlockSample({"type": "StreamablePipeline", "sequence_block": {"type": "Encoders"},
                 "streamable_block": {"type": "StreamableStack",
                                      "stack": [{"type": "Upsampler"}, {"type": "Decoder"}]}},
                addon="demo", utt=TEXT, atol=1e-4),
    # ttsint-encoders
    BlockSample({"type": "Encoders"}, addon="demo", utt=TEXT),
    BlockSample({"type": "CustomizedEncoders"}, addon="demo", utt=TEXT, atol=1e-5),
    BlockSample({"type": "Upsampler"}, addon="demo", utt=_encoded),
    BlockSample({"type": "Decoder", "chunk_frames": 16, "first_chunk_frames": 4}, addon="demo",
                upstream=HIDDEN, atol=1e-4, lookahead=18),
    # The demo addon has no step network; en-rms ships one. The first chunk needs its 4 frames + the lag.
    BlockSample({"type": "StatefulDecoder", "chunk_frames": 16, "first_chunk_frames": 4}, addon="en-rms",
                upstream=_frames(150, 256, 2, 0.0) * 0.5, atol=1e-4, lookahead=66),
    # ttsint-inferentia
    BlockSample({"type": "NeuronEncoders", "runtime": _CPU_STATIC}, addon="demo", utt=TEXT, atol=1e-4),
    BlockSample({"type": "NeuronDecoder", "chunk_frames": 16, "runtime": _CPU_STATIC}, addon="demo",
                upstream=HIDDEN, atol=1e-4, lookahead=44),  # first window (chunk + context) + right context
    # ttsint-dsp
    BlockSample({"type": "Gain", "db": -6.0}, upstream=MEL, lookahead=1),
    BlockSample({"type": "Tilt", "db": 3.0, "eq": [0, -2, 1]}, upstream=MEL, lookahead=1),
    BlockSample({"type": "Smooth", "frames": 5}, upstream=MEL, lookahead=18),
    BlockSample({"type": "MelShift", "bins": 1.5}, upstream=MEL, lookahead=1),
    BlockSample({"type": "Normalize", "window": 20, "lookahead": 4, "chunk_frames": 8}, upstream=MEL,
                lookahead=12),
    BlockSample({"type": "Pace", "factor": 1.25}, utt=DURATIONS),
    BlockSample({"type": "ChunkStats", "log": False}, upstream=MEL, lookahead=1),
    BlockSample({"type": "Tap", "prefix": "mel"}, upstream=MEL, lookahead=1, writes="directory"),
    BlockSample({"type": "NaNGuard"}, upstream=MEL, lookahead=1),
    BlockSample({"type": "GriffinLim", "n_iter": 4, "chunk_frames": 8, "first_chunk_frames": 4,
                 "context_frames": 4}, addon="demo", upstream=MEL[:40], chunkings=(1, 5, 40), atol=1e-4,
                lookahead=12),
    # lookahead: 1 frame for the time derivative, 2 for overlapping windows, then the next. atol 2e-5:
    # float32 phase integration differs by up to 1.05e-5 between chunkings here (cause not isolated)
    BlockSample({"type": "PGHI", "chunk_frames": 8}, addon="demo", upstream=MEL[:40], chunkings=(1, 5, 40),
                atol=2e-5, lookahead=4),
    BlockSample({"type": "NetworkVocoder", "chunk_frames": 8, "first_chunk_frames": 3}, addon=_vocoder_addon,
                upstream=MEL, atol=1e-5, lookahead=9),
]


def _first_party_blocks() -> list[str]:
    registry = ttsint.get_registry()
    return sorted({r.name for r in registry.iter_blocks() if r.distribution in FIRST_PARTY})


@parametrize_with_checks(SAMPLES, registered=_first_party_blocks())
def test_first_party_blocks(sample, check):
    check(sample)
