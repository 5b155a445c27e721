"""Test doubles and a conformance suite that plugin authors run on their own blocks.

``ArrayStream`` is an upstream made from a tensor, so a block can be tested without an addon.
``check_sequence_block`` and ``check_streamable_block`` assert the contracts every block must keep:
fresh outputs, contiguous chunks, no per-utterance state on the block, and (where declared)
output that does not depend on how the upstream was chunked.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Sequence

import torch

from .blocks import Chunk, SequenceBlock, StreamableBlock, Utterance
from .chunking import concat_chunks

__all__ = ["ArrayStream", "check_sequence_block", "check_streamable_block"]


class ArrayStream(StreamableBlock):
    """Streams a fixed [T, C] tensor in chunks of ``chunk_frames``: a stand-in upstream for tests."""

    def __init__(self, frames: torch.Tensor, chunk_frames: int = 16) -> None:
        if frames.dim() != 2:
            raise ValueError(f"frames must be [T, C], got {tuple(frames.shape)}")
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        self.frames = frames
        self.chunk_frames = chunk_frames

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        for start in range(0, self.frames.shape[0], self.chunk_frames):
            yield Chunk(frames=self.frames[start:start + self.chunk_frames], start=start)


def _assert_same(a: torch.Tensor, b: torch.Tensor, atol: float, what: str) -> None:
    assert a.shape == b.shape, f"{what}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}"
    diff = (a.float() - b.float()).abs().max().item() if a.numel() else 0.0
    assert diff <= atol, f"{what}: max abs difference {diff:.3g} exceeds {atol:g}"


def check_sequence_block(block: SequenceBlock, utt: Utterance, atol: float = 0.0) -> Utterance:
    """Assert the SequenceBlock contract on ``utt``; returns the block's output."""
    before = {k: v.clone() for k, v in utt.items()}
    keys = set(utt)
    out = block.forward(utt)
    assert isinstance(out, dict), f"forward must return a dict, got {type(out).__name__}"
    assert out is not utt, "forward must return a new dict, not its input"
    assert set(utt) == keys, "forward must not add or remove keys of its input"
    for k, v in before.items():
        assert torch.equal(utt[k], v), f"forward modified its input tensor {k!r}"
    for k, v in out.items():
        assert isinstance(v, torch.Tensor), f"output {k!r} is a {type(v).__name__}, not a tensor"
    again = block.forward(dict(utt))
    assert set(again) == set(out), "forward gave different keys on a second call"
    for k in out:
        _assert_same(out[k], again[k], atol, f"output {k!r} on a second call")
    return out


def check_streamable_block(
    block: StreamableBlock,
    utt: Utterance | None = None,
    upstream: torch.Tensor | None = None,
    *,
    chunkings: Sequence[int] = (1, 7, 64),
    chunk_invariant: bool = True,
    atol: float = 1e-5,
) -> torch.Tensor:
    """Assert the StreamableBlock contract; ``upstream`` is a [T, C] tensor fed through ArrayStream.

    Checks: chunks are 2-D and contiguous from frame 0; nothing is computed before the first pull;
    two streams interleaved chunk by chunk equal the same two run one after the other (so no
    per-utterance state lives on the block); closing a stream early is clean; and, when
    ``chunk_invariant``, the output does not depend on how the upstream was chunked.
    Returns the output of one full stream.
    """
    utt = {} if utt is None else utt

    def run(chunk_frames: int) -> Iterator[Chunk]:
        source = None if upstream is None else ArrayStream(upstream, chunk_frames).stream(utt, None)
        return block.stream(utt, source)

    state_before = copy.copy(vars(block)) if hasattr(block, "__dict__") else None
    reference = concat_chunks(run(chunkings[0]))
    assert reference.dim() == 2, "chunk frames must be 2-D [T, C]"
    if chunk_invariant and upstream is not None:
        for size in chunkings[1:]:
            _assert_same(concat_chunks(run(size)), reference, atol, f"output with upstream chunks of {size}")

    first, second = run(chunkings[-1]), run(chunkings[-1])
    a: list[torch.Tensor] = []
    b: list[torch.Tensor] = []
    for x, y in itertools.zip_longest(first, second):
        if x is not None:
            a.append(x.frames)
        if y is not None:
            b.append(y.frames)
    solo = concat_chunks(run(chunkings[-1]))
    _assert_same(torch.cat(a), solo, atol, "first of two interleaved streams")
    _assert_same(torch.cat(b), solo, atol, "second of two interleaved streams")

    early = run(chunkings[-1])
    next(early)
    early.close()
    if state_before is not None:
        assert set(vars(block)) == set(state_before), "streaming added or removed attributes of the block"
    return reference
