"""Effects on mel frames (natural-log magnitudes): gain, tilt/EQ, smoothing, mel shift, normalisation.

Each streams chunk by chunk with no seams: its chunked output equals its one-shot output exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Annotated

import torch
from ttsint import (
    Chunk,
    ParameterError,
    Range,
    StreamableBlock,
    StreamError,
    Utterance,
    context_windows,
    pad_context,
)

__all__ = ["MelEffect", "FrameEffect", "Gain", "Tilt", "Smooth", "MelShift", "Normalize", "db_to_log"]

_LN10_OVER_20 = math.log(10.0) / 20.0


def db_to_log(db: float | torch.Tensor) -> float | torch.Tensor:
    """Decibels of magnitude as an offset in natural-log magnitude (the unit of a log mel)."""
    return db * _LN10_OVER_20


class MelEffect(StreamableBlock):
    """Base of the effects: mel frames in, mel frames out; it needs an upstream block that makes mel."""

    consumes = "mel"

    def _upstream(self, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is None:
            where = getattr(self, "config_path", self.type_name)
            raise StreamError(
                f"{where}: {self.type_name} transforms frames from the block before it; "
                "it cannot be the first streamable block of a stack"
            )
        return upstream


class FrameEffect(MelEffect):
    """An effect that treats every frame on its own, so each chunk is processed as it comes."""

    def apply(self, frames: torch.Tensor) -> torch.Tensor:
        """Transform [T, n_mels] frames."""
        raise NotImplementedError

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        for chunk in self._upstream(upstream):
            yield Chunk(frames=self.apply(chunk.frames), start=chunk.start)


class Gain(FrameEffect):
    """Adds ``db`` decibels to every mel bin."""

    def __init__(self, db: Annotated[float, Range(-120, 120)]) -> None:
        self.db = float(db)
        self.offset = db_to_log(self.db)

    def apply(self, frames: torch.Tensor) -> torch.Tensor:
        return frames + self.offset

    def describe(self) -> str:
        return f"{self.type_name} ({self.db:+g} dB)"


class Tilt(FrameEffect):
    """Spectral tilt and EQ: a dB offset per mel bin.

    ``db`` rises linearly from the lowest to the highest bin (pivot in the middle); ``eq`` lists dB
    gains at evenly spaced points from the lowest to the highest bin, interpolated in between.
    """

    def __init__(self, db: float = 0.0, eq: Sequence[float] | None = None) -> None:
        if eq is not None and (isinstance(eq, (str, bytes)) or len(eq) < 2):
            raise ParameterError("eq", f"must list at least two dB values (lowest bin .. highest bin), "
                                 f"got {eq!r}")
        self.db = float(db)
        self.eq = [float(g) for g in eq] if eq is not None else None

    def curve(self, n_mels: int) -> torch.Tensor:
        """The offset in dB for each of ``n_mels`` bins."""
        pos = (
            torch.linspace(0.0, 1.0, n_mels, dtype=torch.float64)
            if n_mels > 1
            else torch.zeros(1, dtype=torch.float64)
        )
        curve = self.db * (pos - 0.5)
        if self.eq is not None:
            points = torch.tensor(self.eq, dtype=torch.float64)
            x = pos * (len(self.eq) - 1)
            lo = torch.clamp(x.floor().long(), max=len(self.eq) - 2)
            frac = x - lo
            curve = curve + points[lo] * (1 - frac) + points[lo + 1] * frac
        return curve

    def apply(self, frames: torch.Tensor) -> torch.Tensor:
        return frames + db_to_log(self.curve(frames.shape[1])).to(frames.dtype)

    def describe(self) -> str:
        eq = f", eq={self.eq}" if self.eq else ""
        return f"{self.type_name} ({self.db:+g} dB{eq})"


class MelShift(FrameEffect):
    """Moves the spectrum ``bins`` mel bins up (positive) or down (negative), fractions interpolated linearly.

    A shift along the mel axis moves pitch harmonics and formants together. Bins shifted in from
    outside take ``fill`` (a log magnitude), or repeat the edge bin when ``fill`` is None.
    """

    def __init__(self, bins: float, fill: float | None = None) -> None:
        self.bins = float(bins)
        self.fill = None if fill is None else float(fill)

    def apply(self, frames: torch.Tensor) -> torch.Tensor:
        n = frames.shape[1]
        source = torch.arange(n, dtype=torch.float64) - self.bins
        lo = source.floor()
        frac = (source - lo).to(frames.dtype)
        lo_i = lo.long().clamp(0, n - 1)
        hi_i = (lo.long() + 1).clamp(0, n - 1)
        out = frames[:, lo_i] * (1 - frac) + frames[:, hi_i] * frac
        if self.fill is not None:
            outside = (source < 0) | (source > n - 1)
            out[:, outside] = self.fill
        return out

    def describe(self) -> str:
        return f"{self.type_name} ({self.bins:+g} bins)"


class Smooth(MelEffect):
    """Smooths each mel bin over time with a ``frames``-wide Hann-shaped kernel (edge frames repeated).

    Windows of ``chunk_frames`` carry ``frames // 2`` frames of context each side, so no seam shows.
    """

    def __init__(self, frames: int = 3, chunk_frames: int = 16) -> None:
        if frames < 1 or frames % 2 == 0:
            raise ParameterError("frames", f"must be a positive odd number, got {frames}")
        if chunk_frames < 1:
            raise ParameterError("chunk_frames", f"must be >= 1, got {chunk_frames}")
        self.frames = int(frames)
        self.chunk_frames = int(chunk_frames)
        self.radius = self.frames // 2
        kernel = torch.hann_window(self.frames + 2, periodic=False, dtype=torch.float64)[1:-1]
        self.kernel = (kernel / kernel.sum()).tolist()

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        for window in context_windows(self._upstream(upstream), self.chunk_frames, self.radius):
            padded = pad_context(window, self.radius)
            # Shifted sums in a fixed order: each output frame sums the same terms however it was chunked.
            out = padded[0 : window.length] * self.kernel[0]
            for k in range(1, self.frames):
                out = out + padded[k : k + window.length] * self.kernel[k]
            yield Chunk(frames=out, start=window.start)

    def describe(self) -> str:
        return f"{self.type_name} ({self.frames} frames)"


class Normalize(MelEffect):
    """Brings the level of the mel magnitudes to ``target_db`` with a slowly varying gain.

    Each frame's gain comes from the mean power over the last ``window`` frames and the next
    ``lookahead`` ones, limited to ``max_gain_db`` either way. The lookahead is the latency it adds;
    the window makes it follow slow changes, not syllables.
    """

    def __init__(
        self,
        target_db: float = -20.0,
        window: int = 200,
        lookahead: int = 16,
        max_gain_db: float = 30.0,
        chunk_frames: int = 16,
    ) -> None:
        if window < 1 or lookahead < 0 or chunk_frames < 1:
            key = "window" if window < 1 else "lookahead" if lookahead < 0 else "chunk_frames"
            raise ParameterError(key, f"need window >= 1, lookahead >= 0, chunk_frames >= 1; got {window}, "
                                 f"{lookahead}, {chunk_frames}")
        if max_gain_db < 0:
            raise ParameterError("max_gain_db", f"must be >= 0, got {max_gain_db}")
        self.target_db = float(target_db)
        self.window = int(window)
        self.lookahead = int(lookahead)
        self.max_gain_db = float(max_gain_db)
        self.chunk_frames = int(chunk_frames)

    def gains_db(self, power: torch.Tensor, valid: torch.Tensor, length: int) -> torch.Tensor:
        """Per-frame gain for ``length`` frames from padded per-frame powers and a validity mask."""
        span = self.window + self.lookahead
        total = power[0:length].clone()
        count = valid[0:length].clone()
        for k in range(1, span):
            total += power[k : k + length]
            count += valid[k : k + length]
        level_db = 10.0 * torch.log10(torch.clamp(total / count, min=1e-30))
        return torch.clamp(self.target_db - level_db, -self.max_gain_db, self.max_gain_db)

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        context = (self.window - 1, self.lookahead)
        for window in context_windows(self._upstream(upstream), self.chunk_frames, context):
            power = torch.exp(2.0 * window.frames.to(torch.float64)).mean(dim=1, keepdim=True)
            ones = torch.ones_like(power)
            padded = pad_context(_as_window(window, power), context, mode="zeros")[:, 0]
            valid = pad_context(_as_window(window, ones), context, mode="zeros")[:, 0]
            gain = self.gains_db(padded, valid, window.length)
            out = window.trim(window.frames) + db_to_log(gain).to(window.frames.dtype)[:, None]
            yield Chunk(frames=out, start=window.start)

    def describe(self) -> str:
        return (f"{self.type_name} (target {self.target_db:g} dB, window={self.window}, "
                f"lookahead={self.lookahead})")


def _as_window(window, frames: torch.Tensor):
    """The same window geometry over other per-frame values (e.g. powers)."""
    return type(window)(frames, window.start, window.left, window.length, window.right)
