"""Upsampler: repeats each symbol's encoding for its duration, making speech-length frames on demand.

It computes in numpy, so a voice on ONNX Runtime imports no torch; torch tensors in give torch tensors out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import numpy as np
from ttsint import Chunk, ParameterError, Range, StreamableBlock, StreamError, Utterance


def _numpy(x: Any) -> tuple[np.ndarray, bool]:
    """``x`` as a numpy array, and whether it was a torch tensor."""
    if isinstance(x, np.ndarray):
        return x, False
    return x.detach().cpu().numpy(), True


def _torch(x: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(x)


class Upsampler(StreamableBlock):
    """Repeats each ``text_encoding`` vector by its ``durations`` (divided by ``pace``), chunk by chunk.

    Only the frames of the chunk being made exist at any time; the whole upsampled sequence never does.
    """

    produces = "upsampled"

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

    def _counts(self, durations: np.ndarray) -> np.ndarray:
        """Integer frames per symbol: durations / pace in float32, rounded half to even, never negative."""
        return np.maximum(np.rint(durations.astype(np.float32) / np.float32(self.pace)), 0).astype(np.int64)

    def frame_counts(self, utt: Utterance) -> Any:
        """Integer frames per symbol (int64, the kind of ``durations``): durations / pace, rounded, >= 0."""
        durations, was_torch = _numpy(utt[self.durations])
        counts = self._counts(durations)
        return _torch(counts) if was_torch else counts

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
        encoding, was_torch = _numpy(utt[self.encoding])
        counts = self._counts(_numpy(utt[self.durations])[0])
        if counts.shape[0] != encoding.shape[0]:
            raise StreamError(f"{self.type_name}: {counts.shape[0]} durations for "
                              f"{encoding.shape[0]} encodings")
        # Which symbol each frame repeats: 8 bytes a frame, where the frames themselves are a vector each.
        symbol_of_frame = np.repeat(np.arange(counts.shape[0]), counts)
        total = symbol_of_frame.shape[0]
        for start in range(0, total, self.chunk_frames):
            stop = min(start + self.chunk_frames, total)
            frames = encoding.take(symbol_of_frame[start:stop], axis=0)
            yield Chunk(frames=_torch(frames) if was_torch else frames, start=start)

    def describe(self) -> str:
        return f"{self.type_name} (pace={self.pace}, chunk_frames={self.chunk_frames})"
