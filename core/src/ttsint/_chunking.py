"""Chunking, padding and masking, written once for every block that splits a sequence into windows.

Every function takes torch tensors or NumPy arrays and returns the kind it was given.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import concat, is_torch
from ._data import Chunk
from ._errors import StreamError

__all__ = ["Window", "context_windows", "pad_to", "length_mask", "next_bucket", "concat_chunks",
           "Span", "split_spans", "stitch_spans", "pad_to_bucket", "pad_context", "crossfade"]


@dataclass(frozen=True, eq=False)
class Window:
    """Input frames for ``length`` output frames from ``start``, with ``left``/``right`` context."""

    frames: Any
    start: int
    left: int
    length: int
    right: int

    @property
    def end(self) -> int:
        return self.start + self.length

    def trim(self, output: Any, rate: int = 1) -> Any:
        """Drop the context from an output with ``rate`` positions per frame of ``frames``."""
        return output[self.left * rate:(self.left + self.length) * rate]


def next_window(size: int, chunk_frames: int, growth: float | None) -> int:
    """The size of the window after one of ``size`` frames: grown by ``growth``, at most ``chunk_frames``."""
    return chunk_frames if growth is None else min(chunk_frames, max(size + 1, math.ceil(size * growth)))


def context_windows(
    upstream: Iterable[Chunk],
    chunk_frames: int,
    context: int | tuple[int, int],
    first_chunk_frames: int | None = None,
    growth: float | None = None,
) -> Iterator[Window]:
    """Regroup upstream chunks into windows of ``chunk_frames`` with up to ``context`` frames each side.

    Only as much upstream as the next window needs is pulled, so the first window is ready after
    ``first_chunk_frames + right context`` frames. Context is cut short only at the utterance's ends.
    With ``growth``, windows after the first grow by that factor up to ``chunk_frames`` (16, 32, 64, ...),
    so a small first chunk comes early and the context recomputed around windows stays a small share.
    """
    left_ctx, right_ctx = (context, context) if isinstance(context, int) else context
    if chunk_frames <= 0 or left_ctx < 0 or right_ctx < 0:
        raise ValueError(f"chunk_frames must be > 0 and context >= 0, got {chunk_frames}, {context}")
    if growth is not None and not growth > 1:
        raise ValueError(f"growth must be > 1 (or None for a fixed size after the first), got {growth}")
    size = first_chunk_frames or chunk_frames
    source = iter(upstream)
    held: Any = None  # frames from held_start on; new pieces joined once per window
    held_start = 0
    keep_from = 0  # utterance index of the first frame still needed; earlier ones go at the next join
    new: list[Any] = []
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
            new.append(chunk.frames)
            end = chunk.end
        if start >= end:
            return
        if new:
            if held is not None:
                new.insert(0, held if keep_from == held_start else held[keep_from - held_start:])
            held = concat(new)
            held_start, new = keep_from, []
        assert held is not None
        length = min(size, end - start)
        left = min(left_ctx, start)
        right = min(right_ctx, end - start - length)
        lo, n = start - left - held_start, left + length + right
        yield Window(held if lo == 0 and n == held.shape[0] else held[lo:lo + n], start, left, length, right)
        start += length
        size = next_window(size, chunk_frames, growth)
        keep_from = max(start - left_ctx, held_start)


def pad_to(x: Any, length: int, dim: int = 0, value: float = 0.0) -> Any:
    """Pad ``x`` with ``value`` along ``dim`` up to ``length`` (error if it is longer)."""
    have = x.shape[dim]
    if have > length:
        raise ValueError(f"cannot pad {have} elements down to {length}")
    if have == length:
        return x
    shape = list(x.shape)
    shape[dim] = length - have
    if is_torch(x):
        return concat([x, x.new_full(shape, value)], axis=dim)
    return np.concatenate([x, np.full(shape, value, dtype=x.dtype)], axis=dim)


def length_mask(valid: int, length: int | None = None, dtype: Any = None) -> Any:
    """A [length] mask: 1 for the first ``valid`` positions, 0 for padding after them.

    A torch tensor (float32 unless ``dtype`` says) unless ``dtype`` is a NumPy dtype (e.g. ``numpy.float32``),
    which gives a NumPy array.
    """
    length = valid if length is None else length
    if dtype is None or is_torch(dtype):
        import torch

        mask = torch.zeros(length, dtype=dtype or torch.float32)
    else:
        mask = np.zeros(length, dtype=dtype)
    mask[:valid] = 1
    return mask


def next_bucket(n: int, buckets: Sequence[int]) -> int | None:
    """The smallest bucket that holds ``n`` positions, or None when ``n`` exceeds them all."""
    fitting = [b for b in buckets if b >= n]
    return min(fitting) if fitting else None


def concat_chunks(chunks: Iterable[Chunk]) -> Any:
    """Join a stream's chunks into one [T, C] array, checking that they are contiguous (torch when any
    chunk is a tensor, else NumPy)."""
    frames = []
    expected = 0
    for chunk in chunks:
        if chunk.start != expected:
            raise StreamError(f"chunk starts at frame {chunk.start}, expected {expected}")
        frames.append(chunk.frames)
        expected = chunk.end
    if not frames:
        raise StreamError("the stream produced no chunks")
    return concat(frames)


@dataclass(frozen=True)
class Span:
    """A piece of a sequence: input positions ``[start, end)``, outputs kept for ``[keep_start, keep_end)``.

    The positions between ``start`` and ``keep_start`` (and ``keep_end`` and ``end``) are context: they
    are computed so the kept outputs see the same neighbours as in the whole sequence, then dropped.
    """

    start: int
    end: int
    keep_start: int
    keep_end: int

    @property
    def length(self) -> int:
        return self.end - self.start

    def trim(self, output: Any, dim: int = 0) -> Any:
        """The kept part of an output aligned position for position with this span's input."""
        lo = self.keep_start - self.start
        if is_torch(output):
            return output.narrow(dim, lo, self.keep_end - self.keep_start)
        index = (slice(None),) * (dim % output.ndim) + (slice(lo, lo + self.keep_end - self.keep_start),)
        return output[index]


def split_spans(n: int, max_length: int, context: int, boundaries: Iterable[int] | None = None) -> list[Span]:
    """Split ``n`` positions into spans of at most ``max_length`` whose kept parts tile ``[0, n)``.

    Each kept part has ``context`` real positions on both sides (fewer only at the sequence's ends),
    so a network whose one-sided receptive field is at most ``context`` gives identical kept outputs.
    Cuts fall on ``boundaries`` (e.g. word starts) when one lies in the latter half of the allowed
    range, otherwise as late as the length allows.
    """
    if context < 0:
        raise ValueError(f"context must be >= 0, got {context}")
    if n <= max_length:
        return [Span(0, n, 0, n)]
    if max_length <= 2 * context:
        raise ValueError(f"max_length {max_length} leaves no room between two contexts of {context}; "
                         f"it must exceed {2 * context}")
    cuts = sorted({b for b in (boundaries or ()) if 0 < b < n})
    spans = []
    keep = 0
    while keep < n:
        lo = max(0, keep - context)
        if n - lo <= max_length:
            spans.append(Span(lo, n, keep, n))
            break
        latest = lo + max_length - context  # the cut's right context must still fit
        earliest = keep + max(1, (latest - keep) // 2)
        fitting = [c for c in cuts if earliest <= c <= latest]
        cut = fitting[-1] if fitting else latest
        spans.append(Span(lo, cut + context, keep, cut))
        keep = cut
    return spans


def stitch_spans(pieces: Iterable[tuple[Span, Any]], dim: int = 0) -> Any:
    """Join the kept parts of each span's output along ``dim``, checking that they tile the sequence."""
    parts = []
    expected = 0
    for span, output in pieces:
        if span.keep_start != expected:
            raise StreamError(f"span keeps positions from {span.keep_start}, expected {expected}")
        if output.shape[dim] < span.length:
            raise StreamError(f"output has {output.shape[dim]} positions for a span of {span.length}")
        parts.append(span.trim(output, dim))
        expected = span.keep_end
    if not parts:
        raise StreamError("no spans to stitch")
    return concat(parts, axis=dim)


def pad_to_bucket(x: Any, buckets: Sequence[int], dim: int = 0,
                  value: float = 0.0) -> tuple[Any, Any]:
    """Pad ``x`` along ``dim`` to the next bucket; returns it with its float mask over that dimension."""
    n = int(x.shape[dim])
    bucket = next_bucket(n, buckets)
    if bucket is None:
        raise ValueError(f"{n} positions exceed the largest bucket {max(buckets)}; split the sequence first")
    return pad_to(x, bucket, dim, value), length_mask(n, bucket, None if is_torch(x) else np.float32)


def pad_context(window: Window, context: int | tuple[int, int], mode: str = "replicate") -> Any:
    """``window.frames`` with exactly ``context`` frames each side, padding where the utterance ends.

    A filter over a fixed neighbourhood then sees the same frames at the utterance's edges whether the
    utterance came in one window or many, so chunked and one-shot output agree. ``mode`` is
    "replicate" (repeat the edge frame) or "zeros".
    """
    left_ctx, right_ctx = (context, context) if isinstance(context, int) else context
    if window.left > left_ctx or window.right > right_ctx:
        raise ValueError(f"window has {window.left}/{window.right} context frames, more than {context}")
    if mode not in ("replicate", "zeros"):
        raise ValueError(f"mode must be 'replicate' or 'zeros', got {mode!r}")
    frames = window.frames
    before, after = left_ctx - window.left, right_ctx - window.right
    if before == 0 and after == 0:
        return frames
    if not is_torch(frames):
        widths = [(before, after)] + [(0, 0)] * (frames.ndim - 1)
        return np.pad(frames, widths, mode="edge" if mode == "replicate" else "constant")
    if mode == "replicate":
        head = frames[:1].expand(before, *frames.shape[1:])
        tail = frames[-1:].expand(after, *frames.shape[1:])
    else:
        head = frames.new_zeros(before, *frames.shape[1:])
        tail = frames.new_zeros(after, *frames.shape[1:])
    return concat([head, frames, tail])


def crossfade(outgoing: Any, incoming: Any) -> Any:
    """Blend two renderings of the same span (time first) with raised-cosine weights that sum to one.

    Overlapping windows of a vocoder meet this way, so a boundary between them has no step.
    """
    if outgoing.shape != incoming.shape:
        raise ValueError(f"crossfade needs equal shapes, got {tuple(outgoing.shape)} "
                         f"and {tuple(incoming.shape)}")
    n = outgoing.shape[0]
    if n == 0:
        return outgoing
    if not is_torch(outgoing):
        t = (np.arange(n, dtype=np.float64) + 0.5) / n
        weights = (0.5 - 0.5 * np.cos(np.pi * t)).astype(outgoing.dtype)
        weights = weights.reshape(n, *([1] * (outgoing.ndim - 1)))
        return outgoing * (1 - weights) + incoming * weights
    import torch

    t = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    fade_in = (0.5 - 0.5 * torch.cos(torch.pi * t)).to(outgoing.dtype)
    fade_in = fade_in.reshape(n, *([1] * (outgoing.dim() - 1)))
    return outgoing * (1 - fade_in) + incoming * fade_in
