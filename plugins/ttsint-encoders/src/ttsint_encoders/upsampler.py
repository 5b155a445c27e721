"""Upsampler: repeats each symbol's encoding for its duration, making speech-length frames on demand.

It computes in NumPy and returns frames of the kind of the utterance's encoding (``arrays = "any"``):
en-rms's NumPy encodings never touch torch, a torch voice's stay torch tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import numpy as np
from ttsint import (
    Chunk,
    ParameterError,
    Range,
    StreamableBlock,
    StreamError,
    Utterance,
    is_torch,
    to_numpy,
    to_torch,
)


class Upsampler(StreamableBlock):
    """Repeats each ``text_encoding`` vector by its ``durations`` (divided by ``pace``), chunk by chunk.

    A request's ``speed`` (``Voice.stream(text, params={"speed": s})``) multiplies ``pace`` for that
    request only. Only the frames of the chunk being made exist at any time; the whole upsampled
    sequence never does.
    """

    produces = "upsampled"
    arrays = "any"
    request_params = ("speed",)

    def __init__(self, pace: Annotated[float, Range(0.1, 10)] = 1.0,
                 chunk_frames: Annotated[int, Range(1)] = 32, encoding: str = "text_encoding",
                 durations: str = "durations") -> None:
        if not pace > 0:
            raise ParameterError("pace", f"must be > 0, got {pace}")
        if chunk_frames < 1:
            raise ParameterError("chunk_frames", f"must be >= 1, got {chunk_frames}")
        self.pace = float(pace)
        self.chunk_frames = int(chunk_frames)
        self.encoding = encoding
        self.durations = durations

    def _pace(self, utt: Utterance) -> np.float32:
        """``pace`` times the request's ``speed`` when the utterance carries one."""
        speed = utt.get("speed")
        if speed is None:
            return np.float32(self.pace)
        value = float(to_numpy(speed))
        if not 0.1 <= value <= 10:
            raise ParameterError("speed", f"expected a number from 0.1 to 10, got {value:g}")
        return np.float32(self.pace) * np.float32(value)

    def _counts(self, durations: np.ndarray, utt: Utterance) -> np.ndarray:
        """Integer frames per symbol: durations / pace in float32, rounded half to even, never negative."""
        pace = self._pace(utt)
        return np.maximum(np.rint(durations.astype(np.float32) / pace), 0).astype(np.int64)

    def frame_counts(self, utt: Utterance) -> Any:
        """Integer frames per symbol (int64, the kind of ``durations``): durations / pace, rounded, >= 0."""
        durations = utt[self.durations]
        counts = self._counts(to_numpy(durations), utt)
        return to_torch(counts) if is_torch(durations) else counts

    def symbol_frames(self, utt: Utterance) -> Any:
        """The frames each symbol lasts: what ``synth --timestamps`` times words with."""
        return self.frame_counts(utt) if self.durations in utt else None

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is not None:
            raise StreamError(f"{self.type_name} makes frames from the utterance's {self.encoding!r} and "
                              f"{self.durations!r}; it must be the first streamable block of its stack")
        for key in (self.encoding, self.durations):
            if key not in utt:
                raise StreamError(f"{self.type_name} needs {key!r} in the utterance; it has {sorted(utt)}")
        as_torch = is_torch(utt[self.encoding])
        encoding = to_numpy(utt[self.encoding])
        counts = self._counts(to_numpy(utt[self.durations]), utt)
        if counts.shape[0] != encoding.shape[0]:
            raise StreamError(f"{self.type_name}: {counts.shape[0]} durations for "
                              f"{encoding.shape[0]} encodings")
        # Which symbol each frame repeats: 8 bytes a frame, where the frames themselves are a vector each.
        symbol_of_frame = np.repeat(np.arange(counts.shape[0]), counts)
        total = symbol_of_frame.shape[0]
        for start in range(0, total, self.chunk_frames):
            stop = min(start + self.chunk_frames, total)
            frames = encoding.take(symbol_of_frame[start:stop], axis=0)
            yield Chunk(frames=to_torch(frames) if as_torch else frames, start=start)

    def describe(self) -> str:
        return f"{self.type_name} (pace={self.pace}, chunk_frames={self.chunk_frames})"
