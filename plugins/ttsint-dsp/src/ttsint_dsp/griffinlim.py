"""GriffinLim: a streaming vocoder that inverts log-mel frames by Griffin-Lim phase reconstruction.

Each window of ``chunk_frames`` carries ``context_frames`` of mel on both sides, starts from the
phases the previous window settled on where they overlap (elsewhere from a phase fixed by the
absolute frame index and ``seed``), and keeps its central samples; neighbouring windows meet in a
raised-cosine cross-fade, so boundaries do not click. The output is exactly frames x hop samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated

import torch
from ttsint import Chunk, ParameterError, Range, Utterance, context_windows, crossfade, to_torch

from .mel import MelInverse, stft_analysis
from .pghi import pghi_phase
from .vocoders import Vocoder

__all__ = ["GriffinLim"]


class GriffinLim(Vocoder):
    """Griffin-Lim vocoder (fast variant with ``momentum``), streamed over overlapping windows of mel frames.

    Uses the addon's sample_rate, hop_length, n_mels, n_fft, win_length, fmin and fmax. Samples are
    clamped to [-1, 1]; level the mel (Gain, Normalize) before it if that clips.
    """

    addon_keys = ("sample_rate", "hop_length", "n_mels", "n_fft", "win_length", "fmin", "fmax")

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        n_mels: int,
        n_fft: int = 1024,
        win_length: int | None = None,
        fmin: float = 0.0,
        fmax: float | None = None,
        n_iter: Annotated[int, Range(1, 1000)] = 32,
        momentum: float = 0.99,
        chunk_frames: Annotated[int, Range(1)] = 32,
        first_chunk_frames: Annotated[int, Range(1)] | None = 16,
        context_frames: Annotated[int, Range(0)] = 8,
        crossfade_frames: int = 2,
        seed: int = 0,
        log_floor: float = 1e-5,
        phase_init: str = "random",
    ) -> None:
        super().__init__(sample_rate, hop_length, n_mels)
        if n_iter < 0 or not 0 <= momentum < 1:
            raise ParameterError("n_iter" if n_iter < 0 else "momentum",
                                 f"need n_iter >= 0 and 0 <= momentum < 1, got {n_iter}, {momentum}")
        if chunk_frames < 1 or (first_chunk_frames is not None and first_chunk_frames < 1):
            raise ParameterError("chunk_frames" if chunk_frames < 1 else "first_chunk_frames",
                                 f"chunk_frames and first_chunk_frames must be >= 1, got {chunk_frames}, "
                                 f"{first_chunk_frames}")
        if crossfade_frames < 0 or context_frames < crossfade_frames:
            raise ParameterError(
                "crossfade_frames", f"need 0 <= crossfade_frames <= context_frames, got {crossfade_frames}, "
                f"{context_frames}: each side of a cross-fade must come from context"
            )
        if phase_init not in ("random", "pghi"):
            raise ParameterError("phase_init", f"must be 'random' or 'pghi', got {phase_init!r}")
        self.spec = stft_analysis(sample_rate, hop_length, n_mels, n_fft, win_length, fmin, fmax, log_floor)
        self.n_iter = int(n_iter)
        self.momentum = float(momentum)
        self.chunk_frames = int(chunk_frames)
        self.first_chunk_frames = first_chunk_frames
        self.context_frames = int(context_frames)
        self.crossfade_frames = int(crossfade_frames)
        self.seed = int(seed)
        self.phase_init = phase_init
        self.window = torch.hann_window(self.spec.win_length)
        self.inverse = MelInverse(self.spec)

    # -- one window ----------------------------------------------------------------------
    def magnitudes(self, mel: torch.Tensor) -> torch.Tensor:
        """Linear STFT magnitudes [n_fft // 2 + 1, T] for log-mel frames [T, n_mels] (a NumPy mel, as a
        NumPy voice's, is taken as a tensor: ``vocode`` may be called directly with one)."""
        return self.inverse(to_torch(mel))

    def initial_phase(self, start: int, frames: int) -> torch.Tensor:
        """A pseudo-random phase [freqs, frames] fixed by the absolute frame index and the seed."""
        f = torch.arange(self.spec.n_fft // 2 + 1, dtype=torch.float64)[:, None]
        t = torch.arange(start, start + frames, dtype=torch.float64)[None, :]
        noise = torch.sin(f * 12.9898 + t * 78.233 + self.seed * 37.719) * 43758.5453
        return (2 * math.pi * (noise - noise.floor())).float()

    def start_phase(
        self, first: int, mag: torch.Tensor, settled: tuple[int, torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Phases [freqs, frames] to start Griffin-Lim from, for a window whose first frame is ``first``.

        Frames the previous window (``settled``: its first frame, final phases, magnitudes) covered keep
        its phases; the rest come from ``phase_init``, continuing the last known frame when it is "pghi".
        """
        frames = mag.shape[1]
        known = 0
        if settled is not None:
            prev_first, prev_phase, _ = settled
            known = max(0, min(frames, prev_first + prev_phase.shape[1] - first))
        if self.phase_init == "random":
            phase = self.initial_phase(first, frames)
        else:
            phase = torch.empty(mag.shape[0], frames)
        if known:
            phase[:, :known] = settled[1][:, first - settled[0] : first - settled[0] + known]
        if self.phase_init == "pghi" and known < frames:
            logmag = torch.log(mag.clamp(min=self.spec.log_floor))
            previous = None
            if known:
                previous = (logmag[:, known - 1], phase[:, known - 1])
            elif settled is not None and settled[0] + settled[1].shape[1] == first:
                prev_mag = settled[2][:, -1].clamp(min=self.spec.log_floor)
                previous = (torch.log(prev_mag), settled[1][:, -1])
            phase[:, known:] = pghi_phase(logmag[:, known:], self.spec, previous)
        return phase

    def _stft(self, x: torch.Tensor) -> torch.Tensor:
        s = self.spec
        spec = torch.stft(
            x,
            s.n_fft,
            s.hop_length,
            s.win_length,
            self.window,
            center=True,
            pad_mode="constant",
            return_complex=True,
        )
        return spec[
            :, : x.shape[0] // s.hop_length
        ]  # a frame per hop: the one centred on the end is not ours

    def _istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        s = self.spec
        return torch.istft(spec, s.n_fft, s.hop_length, s.win_length, self.window, center=True, length=length)

    def reconstruct(self, mag: torch.Tensor, phase: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fast Griffin-Lim from an initial phase: (samples [frames * hop], final phase [freqs, frames])."""
        length = mag.shape[1] * self.spec.hop_length
        spec = torch.polar(mag, phase)
        previous = torch.zeros_like(spec)
        for _ in range(self.n_iter):
            projected = self._stft(self._istft(spec, length))
            accelerated = projected + self.momentum * (projected - previous)
            previous = projected
            spec = mag * accelerated / torch.clamp(accelerated.abs(), min=1e-12)
        return self._istft(spec, length), torch.angle(spec)

    def vocode_whole(self, mel: torch.Tensor) -> torch.Tensor:
        """Griffin-Lim over the whole utterance in one window: the reference that streaming stays close to."""
        with torch.inference_mode():
            mag = self.magnitudes(mel)
            samples, _ = self.reconstruct(mag, self.start_phase(0, mag))
        return samples.clamp(-1.0, 1.0).reshape(-1, 1)

    # -- streaming -----------------------------------------------------------------------
    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        hop = self.spec.hop_length
        half = self.crossfade_frames * hop // 2
        windows = context_windows(
            self._upstream(upstream), self.chunk_frames, self.context_frames, self.first_chunk_frames
        )
        emitted = 0  # samples yielded so far
        tail: torch.Tensor | None = None  # the last window's rendering of the samples after ``emitted``
        # the last window's first frame, final phases and magnitudes
        settled: tuple[int, torch.Tensor, torch.Tensor] | None = None
        # Inference mode is entered per window and left before each yield: held across a yield, it would
        # leak into the consumer's thread for as long as the stream is suspended.
        for w in windows:
            with torch.inference_mode():
                first = w.start - w.left
                mag = self.magnitudes(w.frames)
                phase = self.start_phase(first, mag, settled)
                samples, final = self.reconstruct(mag, phase)
                settled = (first, final, mag)
                offset = first * hop  # absolute index of samples[0]
                pieces = []
                if tail is not None:
                    incoming = samples[emitted - offset : emitted - offset + tail.shape[0]]
                    n = incoming.shape[0]
                    pieces.append(crossfade(tail[:n], incoming))
                    emitted_to = emitted + n
                else:
                    emitted_to = w.start * hop
                # Hold back the samples the next window will cross-fade into.
                next_half = min(half, min(self.context_frames, w.end) * hop)
                keep_until = w.end * hop - next_half
                if keep_until > emitted_to:
                    pieces.append(samples[emitted_to - offset : keep_until - offset])
                    emitted_to = keep_until
                tail = samples[emitted_to - offset : w.end * hop + min(half, w.right * hop) - offset]
                out = torch.cat(pieces) if pieces else samples[:0]
                chunk = (Chunk(frames=out.clamp(-1.0, 1.0).reshape(-1, 1), start=emitted)
                         if out.shape[0] else None)
            emitted = emitted_to
            end = w.end * hop
            if chunk is not None:
                yield chunk
        if tail is not None and end > emitted:
            with torch.inference_mode():
                last = Chunk(frames=tail[: end - emitted].clamp(-1.0, 1.0).reshape(-1, 1), start=emitted)
            yield last

    def describe(self) -> str:
        s = self.spec
        return (
            f"{self.type_name} (sample_rate={s.sample_rate}, hop_length={s.hop_length}, n_fft={s.n_fft}, "
            f"n_mels={s.n_mels}, n_iter={self.n_iter}, chunk_frames={self.chunk_frames}, "
            f"context_frames={self.context_frames})"
        )
