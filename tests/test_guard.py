"""The output guard: what it lets through and what it stops, chunk by chunk."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
import ttsint
from ttsint import Chunk, StreamableBlock, StreamError, Utterance
from ttsint._guard import OutputGuard


class Given(StreamableBlock):
    """Streams the frames it was built with, in chunks of ``size``."""

    def __init__(self, frames: torch.Tensor, size: int = 4, produces: str = "mel") -> None:
        self.frames = frames
        self.size = size
        self.produces = produces

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        for start in range(0, self.frames.shape[0], self.size):
            yield Chunk(self.frames[start:start + self.size], start)


def guarded(frames: torch.Tensor, produces: str = "mel") -> torch.Tensor:
    guard = OutputGuard(Given(frames, produces=produces), n_mels=frames.shape[1] if produces == "mel" else 8,
                        hop_length=4)
    return torch.cat([c.frames for c in guard.stream({}, None)])


def test_finite_frames_pass_even_when_their_sum_overflows():
    big = torch.full((10, 8), 3e38)  # every value finite; any sum of two is inf in float32
    assert torch.equal(guarded(big), big)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_value_stops_the_stream_at_its_frame(bad):
    frames = torch.zeros(10, 8)
    frames[6, 3] = bad
    with pytest.raises(StreamError, match=r"NaN or infinite values in frames 4-8 \(first at frame 6\)"):
        guarded(frames)


def test_opposite_infinities_in_one_chunk_are_caught():
    frames = torch.zeros(8, 8)
    frames[1, 0], frames[2, 0] = float("inf"), -float("inf")
    with pytest.raises(StreamError, match="first at frame 1"):
        guarded(frames)


def test_wrong_widths_name_the_frames():
    guard = OutputGuard(Given(torch.zeros(8, 5)), n_mels=80, hop_length=4)
    with pytest.raises(StreamError, match="frames 0-4 have 5 mel bins; the addon declares n_mels = 80"):
        list(guard.stream({}, None))
    with pytest.raises(StreamError, match="frames 0-4 have 2 channels; a waveform has one"):
        guarded(torch.zeros(8, 2), produces="waveform")


class Timed(StreamableBlock):
    """Decides two frames per symbol once its container has made ``durations``, but makes one too many."""

    produces = "mel"

    def symbol_frames(self, utt: Utterance) -> torch.Tensor | None:
        return utt["durations"] if "durations" in utt else None

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        yield Chunk(torch.zeros(int(utt["durations"].sum()) + 1, 2), 0)


class ThirdPartyContainer(StreamableBlock):
    """A container written elsewhere: it makes its child's utterance inside ``stream``, as a pipeline does."""

    def __init__(self, inner: StreamableBlock, tells: bool) -> None:
        self.inner, self.tells = inner, tells

    def children(self) -> list[tuple[str, StreamableBlock]]:
        return [("inner", self.inner)]

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        made = {**utt, "durations": torch.full((len(utt["symbols"]),), 2)}
        if self.tells:
            ttsint.announce(self.inner, made)
        yield from self.inner.stream(made, upstream)


@pytest.mark.parametrize("tells", [True, False])
def test_durations_a_third_party_container_announces_are_checked(tells: bool) -> None:
    guard = OutputGuard(ThirdPartyContainer(Timed(), tells), n_mels=2, hop_length=4)
    utt = {"symbols": torch.arange(5)}
    if tells:  # the guard heard 5 symbols x 2 frames and sees 11
        with pytest.raises(StreamError, match="made 11 frames, but the durations ask for 10"):
            list(guard.stream(utt, None))
    else:  # unannounced, the durations stay unknown: only the per-chunk checks apply
        assert sum(len(c.frames) for c in guard.stream(utt, None)) == 11


def test_durations_beyond_the_limits_stop_the_stream_before_any_frame() -> None:
    from ttsint import Limits

    made: list[int] = []

    class Counting(Timed):
        def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
            made.append(1)
            yield from super().stream(utt, upstream)

    limits = Limits(max_frames_per_symbol=1)
    guard = OutputGuard(ThirdPartyContainer(Counting(), True), n_mels=2, hop_length=4, limits=limits)
    with pytest.raises(StreamError):
        list(guard.stream({"symbols": torch.arange(5)}, None))
    assert made == []


def guarded_numpy(frames: np.ndarray) -> np.ndarray:
    guard = OutputGuard(Given(frames), n_mels=frames.shape[1], hop_length=4)  # type: ignore[arg-type]
    return np.concatenate([c.frames for c in guard.stream({}, None)])


@pytest.mark.parametrize("order", ["C", "F"], ids=["contiguous", "strided"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_chunks_are_checked_as_tensors_are(order: str, dtype: type) -> None:
    """Small NumPy chunks are summed in Python floats (strided ones from a copy): the same verdicts."""
    big = np.full((10, 8), np.finfo(dtype).max / 2, dtype=dtype, order=order)  # finite; sums overflow
    assert np.array_equal(guarded_numpy(big), big)
    for bad in (np.nan, np.inf, -np.inf):
        frames = np.zeros((10, 8), dtype=dtype, order=order)
        frames[6, 3] = bad
        assert frames.flags.c_contiguous == (order == "C")
        with pytest.raises(StreamError, match=r"NaN or infinite values in frames 4-8 \(first at frame 6\)"):
            guarded_numpy(frames)
    frames = np.zeros((8, 8), dtype=dtype, order=order)
    frames[1, 0], frames[2, 0] = np.inf, -np.inf
    with pytest.raises(StreamError, match="first at frame 1"):
        guarded_numpy(frames)
