"""The conformance suite in ttsint.testing passes first-party blocks and catches broken ones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import ttsint
from ttsint import Chunk, SequenceBlock, StreamableBlock
from ttsint.testing import ArrayStream, check_sequence_block, check_streamable_block


@pytest.fixture(scope="module")
def demo() -> ttsint.Voice:
    return ttsint.Voice.load("demo")


def test_array_stream_chunks_a_tensor():
    frames = torch.arange(10.0).reshape(5, 2)
    chunks = list(ArrayStream(frames, 2).stream({}, None))
    assert [c.start for c in chunks] == [0, 2, 4] and torch.equal(ttsint.concat_chunks(chunks), frames)


@pytest.mark.parametrize("spec", [
    {"type": "Decoder", "chunk_frames": 16, "first_chunk_frames": 4},
    {"type": "Smooth", "frames": 5},
    {"type": "Gain", "db": -6.0},
    {"type": "MelShift", "bins": 1.5},
    {"type": "NeuronDecoder", "chunk_frames": 16},
])
def test_first_party_streamable_blocks_conform(demo, spec, tmp_path):
    if spec["type"] == "NeuronDecoder":
        spec = {**spec, "cache_dir": str(tmp_path)}
    block = ttsint.build_stack(spec, demo.addon)
    width = 64 if spec["type"] in ("Decoder", "NeuronDecoder") else 80
    upstream = torch.randn(150, width, generator=torch.Generator().manual_seed(0))
    out = check_streamable_block(block, upstream=upstream, atol=1e-4)
    assert out.shape[0] == 150


def test_griffin_lim_conforms_with_its_declared_tolerance(demo):
    block = ttsint.build_stack({"type": "GriffinLim", "n_iter": 4}, demo.addon)
    mel = -6 + torch.randn(40, 80, generator=torch.Generator().manual_seed(1)).clamp(-2, 2)
    out = check_streamable_block(block, upstream=mel, chunkings=(1, 5, 40))
    assert out.shape == (40 * demo.addon.hop_length, 1)


def test_first_party_sequence_blocks_conform(demo):
    utt = demo.encode("conformance checks for sequence blocks")
    encoded = check_sequence_block(demo.block.sequence_block, utt)
    check_sequence_block(ttsint.build_stack({"type": "Pace", "factor": 1.25}, demo.addon), encoded)


class _Remembers(StreamableBlock):
    """Broken on purpose: keeps its running frame count on the block, shared by every stream."""

    def __init__(self) -> None:
        self.count = 0

    def stream(self, utt, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        for chunk in upstream:
            self.count += len(chunk)
            yield Chunk(frames=chunk.frames + self.count, start=chunk.start)


class _Mutates(SequenceBlock):
    """Broken on purpose: writes into its input."""

    def forward(self, utt):
        utt["symbols"] += 1
        return {**utt, "extra": utt["symbols"]}


def test_a_block_with_per_stream_state_on_itself_fails_the_suite():
    with pytest.raises(AssertionError):
        check_streamable_block(_Remembers(), upstream=torch.zeros(20, 3))


def test_a_block_that_mutates_its_input_fails_the_suite():
    with pytest.raises(AssertionError, match="modified its input"):
        check_sequence_block(_Mutates(), {"symbols": torch.arange(4)})
