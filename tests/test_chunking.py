"""Chunking helpers: context windows over a stream, padding, masks, buckets, joining chunks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from ttsint import Chunk, StreamError, concat_chunks, context_windows, length_mask, next_bucket, pad_to

SIZES = [3, 1, 5, 2, 7, 4, 1, 6]  # irregular upstream chunk sizes, 29 frames in all
TOTAL = sum(SIZES)


def upstream(sizes: list[int], pulled: list[int] | None = None, channels: int = 2) -> Iterator[Chunk]:
    """Chunks of frame k = [k, -k, ...], counting every pull in ``pulled``."""
    start = 0
    for size in sizes:
        if pulled is not None:
            pulled.append(size)
        index = torch.arange(start, start + size, dtype=torch.float32)
        yield Chunk(
            frames=torch.stack([index * (1 if c % 2 == 0 else -1) for c in range(channels)], 1), start=start
        )
        start += size


WHOLE = torch.cat([c.frames for c in upstream(SIZES)])


@pytest.mark.parametrize("chunk_frames", [1, 4, 10, 40])
@pytest.mark.parametrize("context", [0, 2, (3, 1), (0, 5)])
@pytest.mark.parametrize("first_chunk_frames", [None, 2, 7])
def test_windows_reassemble_exactly_with_context_cut_only_at_the_ends(
    chunk_frames: int, context: int | tuple[int, int], first_chunk_frames: int | None
) -> None:
    left_ctx, right_ctx = (context, context) if isinstance(context, int) else context
    windows = list(context_windows(upstream(SIZES), chunk_frames, context, first_chunk_frames))
    torch.testing.assert_close(torch.cat([w.trim(w.frames) for w in windows]), WHOLE)
    expected_start = 0
    for i, w in enumerate(windows):
        assert w.start == expected_start
        want = (first_chunk_frames or chunk_frames) if i == 0 else chunk_frames
        assert w.length == min(want, TOTAL - w.start)
        assert w.left == min(left_ctx, w.start)
        assert w.right == min(right_ctx, TOTAL - w.end)
        torch.testing.assert_close(w.frames, WHOLE[w.start - w.left : w.end + w.right])
        expected_start = w.end
    assert expected_start == TOTAL


@pytest.mark.parametrize(
    ("first_chunk_frames", "right", "pulls"),
    [
        (1, 0, 1),  # 3 frames arrive with the first chunk
        (4, 0, 2),  # 3 + 1
        (2, 2, 2),  # needs 4 frames: 3 + 1
        (4, 2, 3),  # needs 6 frames: 3 + 1 + 5
        (30, 0, 8),  # more than there is: the whole stream
    ],
)
def test_first_window_pulls_only_what_it_needs(first_chunk_frames: int, right: int, pulls: int) -> None:
    pulled: list[int] = []
    windows = context_windows(upstream(SIZES, pulled), 10, (3, right), first_chunk_frames)
    assert pulled == []
    first = next(windows)
    assert len(pulled) == pulls
    assert first.length == min(first_chunk_frames, TOTAL)


def test_later_windows_keep_pulling_lazily() -> None:
    pulled: list[int] = []
    windows = context_windows(upstream([1] * 20, pulled), chunk_frames=4, context=1)
    assert [next(windows).end for _ in range(3)] == [4, 8, 12]
    assert len(pulled) == 13  # 12 frames plus one of right context


def test_empty_and_zero_length_chunks() -> None:
    assert list(context_windows(iter([]), 4, 1)) == []
    chunks = [
        Chunk(frames=torch.zeros(0, 1), start=0),
        Chunk(frames=torch.ones(3, 1), start=0),
        Chunk(frames=torch.zeros(0, 1), start=3),
        Chunk(frames=torch.ones(2, 1), start=3),
    ]
    windows = list(context_windows(chunks, 2, 1))
    assert [(w.start, w.length) for w in windows] == [(0, 2), (2, 2), (4, 1)]


def test_gaps_in_upstream_are_stream_errors() -> None:
    chunks = [Chunk(frames=torch.ones(3, 1), start=0), Chunk(frames=torch.ones(3, 1), start=4)]
    with pytest.raises(StreamError, match="upstream chunk starts at frame 4, expected 3"):
        list(context_windows(chunks, 2, 0))


@pytest.mark.parametrize(("chunk_frames", "context"), [(0, 1), (-1, 1), (4, -1), (4, (1, -2))])
def test_bad_window_arguments(chunk_frames: int, context: int | tuple[int, int]) -> None:
    with pytest.raises(ValueError, match="chunk_frames must be > 0 and context >= 0"):
        list(context_windows(upstream(SIZES), chunk_frames, context))


def test_pad_to_and_length_mask() -> None:
    x = torch.ones(3, 2)
    padded = pad_to(x, 5, value=-1.0)
    assert padded.shape == (5, 2) and padded[3:].eq(-1).all() and padded[:3].eq(1).all()
    assert pad_to(x, 4, dim=1).shape == (3, 4)
    assert pad_to(x, 3) is x
    with pytest.raises(ValueError, match="cannot pad 3 elements down to 2"):
        pad_to(x, 2)
    assert length_mask(2, 4).tolist() == [1.0, 1.0, 0.0, 0.0]
    assert length_mask(3).tolist() == [1.0, 1.0, 1.0]


def test_next_bucket() -> None:
    assert next_bucket(5, [16, 4, 8]) == 8
    assert next_bucket(8, [16, 4, 8]) == 8
    assert next_bucket(17, [16, 4, 8]) is None


def test_concat_chunks_checks_contiguity() -> None:
    torch.testing.assert_close(concat_chunks(upstream(SIZES)), WHOLE)
    with pytest.raises(StreamError, match="chunk starts at frame 2, expected 0"):
        concat_chunks([Chunk(frames=torch.ones(1, 1), start=2)])
    with pytest.raises(StreamError, match="the stream produced no chunks"):
        concat_chunks([])


@pytest.mark.parametrize(("growth", "lengths"), [
    (None, [2, 8, 8, 8, 3]),
    (2.0, [2, 4, 8, 8, 7]),
    (1.5, [2, 3, 5, 8, 8, 3]),
])
def test_windows_grow_after_the_first_up_to_chunk_frames(growth, lengths) -> None:
    windows = list(context_windows(upstream(SIZES), 8, 3, first_chunk_frames=2, growth=growth))
    assert [w.length for w in windows] == lengths
    joined = torch.cat([w.frames[w.left:w.left + w.length] for w in windows])
    assert torch.equal(joined, WHOLE)
    assert all(w.left == min(3, w.start) and w.right == min(3, TOTAL - w.end) for w in windows)


@pytest.mark.parametrize("growth", [1.0, 0.5, -2])
def test_growth_must_exceed_one(growth) -> None:
    with pytest.raises(ValueError, match="growth must be > 1"):
        list(context_windows(upstream(SIZES), 8, 1, 2, growth))
