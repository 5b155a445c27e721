"""Chunking, padding and masking, written once for every block that splits a sequence into windows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch

from .blocks import Chunk
from .errors import StreamError

__all__ = ["Window", "context_windows", "pad_to", "length_mask", "next_bucket", "concat_chunks"]


@dataclass(frozen=True, eq=False)
class Window:
    """Input frames for ``length`` output frames starting at ``start``, with ``left``/``right`` context around them."""

    frames: torch.Tensor
    start: int
    left: int
    length: int
    right: int

    @property
    def end(self) -> int:
        return self.start + self.length

    def trim(self, output: torch.Tensor) -> torch.Tensor:
        """Drop the context frames from an output aligned frame for frame with ``frames``."""
        return output[self.left:self.left + self.length]


def context_windows(
    upstream: Iterable[Chunk],
    chunk_frames: int,
    context: int | tuple[int, int],
    first_chunk_frames: int | None = None,
) -> Iterator[Window]:
    """Regroup upstream chunks into windows of ``chunk_frames`` with up to ``context`` frames each side.

    Only as much upstream as the next window needs is pulled, so the first window is ready after
    ``first_chunk_frames + right context`` frames. Context is cut short only at the utterance's ends.
    """
    left_ctx, right_ctx = (context, context) if isinstance(context, int) else context
    if chunk_frames <= 0 or left_ctx < 0 or right_ctx < 0:
        raise ValueError(f"chunk_frames must be > 0 and context >= 0, got {chunk_frames}, {context}")
    size = first_chunk_frames or chunk_frames
    source = iter(upstream)
    buffer: torch.Tensor | None = None
    buffer_start = 0  # utterance index of buffer[0]
    end = 0  # utterance index one past the last frame pulled
    exhausted = False
    start = 0
    while True:
        while not exhausted and end < start + size + right_ctx:
            try:
                chunk = next(source)
            except StopIteration:
                exhausted = True
                break
            if chunk.start != end:
                raise StreamError(f"upstream chunk starts at frame {chunk.start}, expected {end}: "
                                  "chunks must be contiguous")
            if len(chunk) == 0:
                continue
            buffer = chunk.frames if buffer is None else torch.cat([buffer, chunk.frames])
            end = chunk.end
        if start >= end:
            return
        length = min(size, end - start)
        left = min(left_ctx, start)
        right = min(right_ctx, end - start - length)
        assert buffer is not None
        lo = start - left - buffer_start
        yield Window(buffer[lo:lo + left + length + right], start, left, length, right)
        start += length
        size = chunk_frames
        keep_from = max(start - left_ctx, buffer_start)
        buffer = buffer[keep_from - buffer_start:]
        buffer_start = keep_from


def pad_to(x: torch.Tensor, length: int, dim: int = 0, value: float = 0.0) -> torch.Tensor:
    """Pad ``x`` with ``value`` along ``dim`` up to ``length`` (error if it is longer)."""
    have = x.shape[dim]
    if have > length:
        raise ValueError(f"cannot pad {have} elements down to {length}")
    if have == length:
        return x
    shape = list(x.shape)
    shape[dim] = length - have
    return torch.cat([x, x.new_full(shape, value)], dim=dim)


def length_mask(valid: int, length: int | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A [length] mask: 1 for the first ``valid`` positions, 0 for padding after them."""
    length = valid if length is None else length
    mask = torch.zeros(length, dtype=dtype)
    mask[:valid] = 1
    return mask


def next_bucket(n: int, buckets: Sequence[int]) -> int | None:
    """The smallest bucket that holds ``n`` positions, or None when ``n`` exceeds them all."""
    fitting = [b for b in buckets if b >= n]
    return min(fitting) if fitting else None


def concat_chunks(chunks: Iterable[Chunk]) -> torch.Tensor:
    """Join a stream's chunks into one [T, C] tensor, checking that they are contiguous."""
    frames = []
    expected = 0
    for chunk in chunks:
        if chunk.start != expected:
            raise StreamError(f"chunk starts at frame {chunk.start}, expected {expected}")
        frames.append(chunk.frames)
        expected = chunk.end
    if not frames:
        raise StreamError("the stream produced no chunks")
    return torch.cat(frames)
