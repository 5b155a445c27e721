"""Core helpers the fixed-shape blocks rely on: split_spans, stitch_spans, pad_to_bucket."""

from __future__ import annotations

import pytest
import torch
import ttsint
from ttsint import Span, pad_to_bucket, split_spans, stitch_spans


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 127, 128, 129, 1000])
@pytest.mark.parametrize("context", [0, 6, 20])
def test_kept_parts_tile_the_sequence_with_full_context(n: int, context: int) -> None:
    spans = split_spans(n, 64, context)
    assert spans[0].keep_start == 0 and spans[-1].keep_end == n
    for a, b in zip(spans, spans[1:], strict=False):
        assert a.keep_end == b.keep_start
    for s in spans:
        assert s.length <= 64
        assert s.keep_start - s.start == min(context, s.keep_start)
        assert s.end - s.keep_end == min(context, n - s.keep_end)


def test_cuts_fall_on_word_starts_when_close_enough() -> None:
    words = list(range(0, 1000, 9))  # a word starts every 9 positions
    spans = split_spans(1000, 64, 6, words)
    assert len(spans) > 1
    assert all(s.keep_start in words for s in spans)


def test_no_word_start_in_reach_falls_back_to_a_plain_cut() -> None:
    spans = split_spans(200, 64, 6, [3])
    assert [s.keep_end for s in spans[:2]] == [58, 110]


def test_a_bucket_too_small_for_the_context_is_refused() -> None:
    with pytest.raises(ValueError, match="must exceed 40"):
        split_spans(100, 40, 20)


def test_stitch_keeps_each_central_part() -> None:
    x = torch.arange(300.0)
    spans = split_spans(300, 64, 5)
    assert torch.equal(stitch_spans((s, x[s.start:s.end] * 1) for s in spans), x)
    with pytest.raises(ttsint.StreamError):
        stitch_spans([(Span(0, 10, 0, 8), x[:10]), (Span(9, 20, 9, 20), x[9:20])])


def test_pad_to_bucket_returns_the_mask() -> None:
    padded, mask = pad_to_bucket(torch.ones(33, 2), [32, 64])
    assert padded.shape == (64, 2) and padded[33:].abs().sum() == 0
    assert mask.tolist() == [1.0] * 33 + [0.0] * 31
    with pytest.raises(ValueError, match="largest bucket 64"):
        pad_to_bucket(torch.ones(65), [32, 64])
