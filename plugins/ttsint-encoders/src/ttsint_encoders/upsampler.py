"""Upsampler: repeats each symbol's encoding for its duration, making speech-length frames on demand."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import torch
from ttsint import Chunk, ParameterError, Range, StreamableBlock, StreamError, Utterance


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

    def frame_counts(self, utt: Utterance) -> torch.Tensor:
        """Integer frames per symbol: durations / pace, rounded, never negative."""
        return torch.clamp(torch.round(utt[self.durations].float() / self.pace), min=0).long()

    def symbol_frames(self, utt: Utterance) -> torch.Tensor | None:
        """The frames each symbol lasts: what ``synth --timestamps`` times words with."""
        return self.frame_counts(utt) if self.durations in utt else None

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is not None:
            raise StreamError(f"{self.type_name} makes frames from the utterance's {self.encoding!r} and "
                              f"{self.durations!r}; it must be the first streamable block of its stack")
        for key in (self.encoding, self.durations):
            if key not in utt:
                raise StreamError(f"{self.type_name} needs {key!r} in the utterance; it has {sorted(utt)}")
        encoding = utt[self.encoding]
        counts = self.frame_counts(utt)
        if counts.shape[0] != encoding.shape[0]:
            raise StreamError(f"{self.type_name}: {counts.shape[0]} durations for "
                              f"{encoding.shape[0]} encodings")
        # Which symbol each frame repeats: 8 bytes a frame, where the frames themselves are a vector each.
        symbol_of_frame = torch.repeat_interleave(torch.arange(counts.shape[0], device=counts.device), counts)
        symbol_of_frame = symbol_of_frame.to(encoding.device)
        total = symbol_of_frame.shape[0]
        for start in range(0, total, self.chunk_frames):
            stop = min(start + self.chunk_frames, total)
            # index_select: half the cost of advanced indexing, paid once per chunk
            yield Chunk(frames=torch.index_select(encoding, 0, symbol_of_frame[start:stop]), start=start)

    def describe(self) -> str:
        return f"{self.type_name} (pace={self.pace}, chunk_frames={self.chunk_frames})"
