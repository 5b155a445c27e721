"""Phase Gradient Heap Integration (PGHI): STFT phases from magnitudes alone, in one pass; a vocoder on it.

For a Gaussian window the phase's time and frequency derivatives follow from the log-magnitude's
frequency and time derivatives (Portnoff; Průša, Balazs and Søndergaard 2017). Integrating them
from the loudest coefficients outwards gives phases that agree between neighbouring frames, a far
better start than noise, and on mel-inverted magnitudes a better end too (benchmarks/RESULTS.md).
Here the heap's order is taken frame by frame: each spectral peak continues its own bin's phase in
time, and every other bin inherits the phase of the peak it climbs to, integrated along frequency.
That order needs no heap, so it vectorises; a frame's phase needs the next frame's magnitudes (the
time derivative's centred difference) and nothing later.

The vocoder computes in NumPy (FFTs included) and returns frames of the kind it was given
(``arrays = "any"``): behind NumPy blocks on ONNX Runtime it imports no torch, behind torch blocks it
yields torch tensors, computed the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
from ttsint import Chunk, ParameterError, Utterance, is_torch, to_numpy, to_torch

from .mel import MelInverse, MelSpec, stft_analysis
from .vocoders import Vocoder

if TYPE_CHECKING:
    import torch

__all__ = ["HANN_LAMBDA", "PGHI", "pghi_phase"]

#: Time-frequency ratio of the Gaussian closest to a Hann window, per squared window length (Průša et al.).
HANN_LAMBDA = 0.25645


def _peak_roots(s: np.ndarray) -> np.ndarray:
    """For each frame's bins [T, F], the local maximum reached by always stepping to the louder neighbour.

    The maxima are flat indices into ``s``.
    """
    below = np.full_like(s, -np.inf)
    above = np.full_like(s, -np.inf)
    below[:, 1:] = s[:, :-1]
    above[:, :-1] = s[:, 1:]
    # Uphill to the louder side; across a plateau, leftwards, so a flat stretch is one region, not many peaks.
    up = (above > s) & (above >= below)
    down = ~up & ((below > s) | ((below == s) & (above <= s)))
    # A bin stepping right is never followed by one stepping left (nor the reverse), so every climb is a run
    # of equal steps ending at a peak: the first peak at or after a bin stepping right, else the last peak at
    # or before it. No frame's first bin steps left nor its last one right, so the runs stay in their frames.
    peak = ~(up | down).ravel()
    tops = np.flatnonzero(peak)
    count = np.cumsum(peak, dtype=np.intp)  # peaks at or before each bin
    count += up.ravel()
    count -= 1
    return tops[count].reshape(s.shape)


def _centred_difference(x: np.ndarray, axis: int) -> np.ndarray:
    """``numpy.gradient`` of a 2-D array at unit spacing (centred inside, one-sided at the ends), cheaper."""
    out = np.empty_like(x)
    a, d = (x, out) if axis == 0 else (x.T, out.T)  # differences along the first axis of a and d
    if a.shape[0] < 2:
        d[...] = 0
    else:
        np.subtract(a[2:], a[:-2], out=d[1:-1])
        d[1:-1] *= 0.5
        np.subtract(a[1], a[0], out=d[0])
        np.subtract(a[-1], a[-2], out=d[-1])
    return out


def _integrate(
    s: np.ndarray,
    spec: MelSpec,
    previous: tuple[np.ndarray, np.ndarray] | None,
    following: np.ndarray | None,
) -> np.ndarray:
    """Phases [T, F] (float64, centred-window convention, not wrapped) for log-magnitudes ``s`` [T, F].

    ``previous`` is (log-magnitude, phase) of the frame before, ``following`` the log-magnitude of the
    frame after; where they are None the utterance starts or ends there.
    """
    n_frames, n_freq = s.shape
    lam = HANN_LAMBDA * spec.win_length**2  # Gaussian window exp(-pi n^2 / lam), n in samples
    parts = (
        ([previous[0][None]] if previous else []) + [s] + ([following[None]] if following is not None else [])
    )
    s_ext = np.concatenate(parts, dtype=np.float64) if len(parts) > 1 else s.astype(np.float64)
    first = 1 if previous else 0
    # d(phase)/d(sample) = 2 pi k / N + (N / lam) d(logmag)/dk. The advance of each bin's phase from the frame
    # before is hop times that (trapezoidal along time); 2 pi k hop / N is taken modulo 2 pi, so the phases
    # within a chunk stay small and their rounding does not depend on where the chunks start.
    ds_dk = _centred_difference(s_ext[: first + n_frames], axis=1)
    advance = np.empty((n_frames, n_freq))
    if previous:
        np.add(ds_dk[1:], ds_dk[:-1], out=advance)
    else:
        np.add(ds_dk[1:], ds_dk[:-1], out=advance[1:])
    advance *= 0.5 * spec.hop_length * spec.n_fft / lam
    advance += 2 * math.pi / spec.n_fft * (np.arange(n_freq) * spec.hop_length % spec.n_fft)
    if not previous:
        advance[0] = 0.0  # none before the first frame
    # d(phase)/d(bin) = -(lam / (hop N)) d(logmag)/dframe, and the phase of bin k relative to bin 0 within
    # each frame (trapezoidal along frequency).
    ds_dm = _centred_difference(s_ext, axis=0)[first : first + n_frames]
    along = np.zeros((n_frames, n_freq))
    np.cumsum(ds_dm[:, 1:] + ds_dm[:, :-1], axis=1, out=along[:, 1:])
    along *= -0.5 * lam / (spec.hop_length * spec.n_fft)
    root = _peak_roots(s)
    # phase[m, k] = phase[m - 1, root] + advance[m, root] + along[m, k] - along[m, root]
    advance -= along
    phase = np.empty((n_frames + 1, n_freq))  # row 0: the frame before
    np.take(advance, root, out=phase[1:])
    phase[1:] += along
    phase[0] = previous[1] if previous else 0.0
    flat = phase.reshape(-1)  # frame m is row m + 1, so root[m] indexes the frame before's row
    for m in range(n_frames):  # each frame continues the one before: sequential
        phase[m + 1] += flat[root[m]]
    return phase[1:]


def _wrapped(phase: np.ndarray) -> np.ndarray:
    """``phase`` shifted by whole turns into [-pi, pi]."""
    return phase - (2 * math.pi) * np.rint(phase * (0.5 / math.pi))


def pghi_phase(
    logmag: torch.Tensor,
    spec: MelSpec,
    previous: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Phases [F, T] in ``torch.stft``'s convention for natural-log magnitudes [F, T] of a Hann-windowed STFT.

    ``previous`` is (log-magnitude [F], phase [F]) of the frame just before the first, which the
    phases then continue. Griffin-Lim uses this to start each window.
    """
    import torch

    shift = math.pi * np.arange(logmag.shape[0])  # torch.stft's phase origin is n_fft / 2 before the centre
    prev = None
    if previous is not None:
        prev = (previous[0].double().cpu().numpy(), previous[1].double().cpu().numpy() - shift)
    phase = _integrate(logmag.double().cpu().numpy().T, spec, prev, None) + shift
    return torch.from_numpy(np.mod(phase.T, 2 * math.pi)).to(logmag.dtype)


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """Frames [T, N] summed at a stride of ``hop`` samples: [(T - 1) * hop + N]."""
    n, width = frames.shape
    parts = -(-width // hop)
    padded = np.zeros((n, parts * hop), frames.dtype)
    padded[:, :width] = frames
    pieces = padded.reshape(n, parts, hop)
    out = np.zeros((n + parts - 1, hop), frames.dtype)
    for j in range(parts):  # part j of frame m lands on hop m + j
        out[j : j + n] += pieces[:, j]
    return out.reshape(-1)[: (n - 1) * hop + width]


class PGHI(Vocoder):
    """Vocoder by Phase Gradient Heap Integration alone: no iterations, streamed exactly.

    The output does not depend on how the mel arrives. Its samples up to frame t are out once mel
    frame t + ``lookahead_frames`` has arrived: one frame for the phase's time derivative, and the
    frames whose windows still overlap (n_fft / 2 / hop_length). A long upstream chunk is vocoded
    ``chunk_frames`` at a time, so the audio comes out in steady pieces.
    """

    addon_keys = ("sample_rate", "hop_length", "n_mels", "n_fft", "win_length", "fmin", "fmax")
    arrays = "any"  # NumPy inside; the output is the upstream's kind

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        n_mels: int,
        n_fft: int = 1024,
        win_length: int | None = None,
        fmin: float = 0.0,
        fmax: float | None = None,
        log_floor: float = 1e-5,
        chunk_frames: int = 32,
    ) -> None:
        super().__init__(sample_rate, hop_length, n_mels)
        if chunk_frames < 1:
            raise ParameterError("chunk_frames", f"must be >= 1, got {chunk_frames}")
        self.chunk_frames = int(chunk_frames)
        self.spec = stft_analysis(sample_rate, hop_length, n_mels, n_fft, win_length, fmin, fmax, log_floor)
        self.inverse = MelInverse(self.spec)
        pad = (n_fft - self.spec.win_length) // 2
        win = self.spec.win_length  # periodic Hann, centred in n_fft
        self.window = np.zeros(n_fft, np.float32)
        self.window[pad : pad + win] = 0.5 - 0.5 * np.cos(2 * math.pi * np.arange(win) / win)
        # torch.stft's phase origin is n_fft / 2 before the window's centre: pi k, modulo 2 pi.
        self.shift = (math.pi * (np.arange(n_fft // 2 + 1) % 2)).astype(np.float32)
        self._weights: dict[int, np.ndarray] = {}  # the window-square sum of n frames, by n

    @property
    def lookahead_frames(self) -> int:
        """Mel frames beyond a frame that must arrive before its samples are out."""
        return 1 + math.ceil(self.spec.n_fft / 2 / self.spec.hop_length)

    def _synthesize(self, mag: np.ndarray, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windowed inverse FFTs of frames [T, F] (float64 phases) overlap-added, and the window-square sum.

        In float32 from the wrapped phases on: float32 sines and FFTs cost a fraction of float64's, and the
        samples move by about 1e-7 (benchmarks/RESULTS.md, session 8).
        """
        n, s = mag.shape[0], self.spec
        angle = _wrapped(phase).astype(np.float32)
        angle += self.shift
        spec = np.empty(angle.shape, np.complex64)
        np.multiply(mag, np.cos(angle), out=spec.real)
        np.multiply(mag, np.sin(angle), out=spec.imag)
        frames = np.fft.irfft(spec, n=s.n_fft)  # [T, n_fft], float32
        frames *= self.window
        weight = self._weights.get(n)
        if weight is None:
            squares = np.broadcast_to(self.window**2, (n, s.n_fft))
            weight = self._weights[n] = _overlap_add(squares, s.hop_length)
        return _overlap_add(frames, s.hop_length), weight

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        s = self.spec
        hop, half = s.hop_length, s.n_fft // 2
        pending = np.zeros((0, s.n_fft // 2 + 1), np.float32)  # magnitudes [T, F] of frames not phased yet
        # log-magnitude and phase of the last phased frame
        previous: tuple[np.ndarray, np.ndarray] | None = None
        phased = received = emitted = 0
        acc_start = -half  # sample index of acc[0]: frame 0 is centred on sample 0
        acc = np.zeros(0, np.float32)
        norm = np.zeros(0, np.float32)
        as_torch = False  # whether the upstream sent torch tensors: the output keeps their kind

        def advance(final: bool) -> np.ndarray | None:
            nonlocal pending, previous, phased, acc, norm, acc_start, emitted
            n = min(self.chunk_frames, len(pending) if final else len(pending) - 1)
            final = final and n == len(pending)
            if n > 0:
                logmag = np.log(np.maximum(pending[: n + 1], np.float32(s.log_floor)))
                following = None if final else logmag[n]
                phase = _integrate(logmag[:n], s, previous, following)
                previous = (logmag[n - 1], np.mod(phase[n - 1], 2 * math.pi))
                summed, weight = self._synthesize(pending[:n], phase)
                offset = phased * hop - half - acc_start
                grow = offset + summed.shape[0] - acc.shape[0]
                acc = np.concatenate([acc, np.zeros(grow, np.float32)])
                norm = np.concatenate([norm, np.zeros(grow, np.float32)])
                acc[offset:] += summed
                norm[offset:] += weight
                pending = pending[n:]
                phased += n
            # Samples before the next frame's window are final; at the end, all up to frames x hop.
            done = received * hop if final else phased * hop - half
            if done <= emitted:
                return None
            lo, hi = emitted - acc_start, done - acc_start
            out = acc[lo:hi] / np.maximum(norm[lo:hi], np.float32(1e-11))
            acc, norm, acc_start, emitted = acc[hi:], norm[hi:], done, done
            return np.minimum(np.maximum(out, -1.0, out=out), 1.0, out=out).reshape(-1, 1)

        for chunk in self._upstream(upstream):
            if len(chunk) == 0:
                continue
            as_torch = is_torch(chunk.frames)
            pending = np.concatenate([pending, self.inverse(to_numpy(chunk.frames)).T])
            received += len(chunk)
            while len(pending) > 1:
                start = emitted
                out = advance(final=False)
                if out is not None:
                    yield Chunk(frames=to_torch(out) if as_torch else out, start=start)
        while len(pending) or emitted < received * hop:
            start = emitted
            out = advance(final=True)
            if out is not None:
                yield Chunk(frames=to_torch(out) if as_torch else out, start=start)

    def describe(self) -> str:
        s = self.spec
        return (
            f"{self.type_name} (sample_rate={s.sample_rate}, hop_length={s.hop_length}, n_fft={s.n_fft}, "
            f"n_mels={s.n_mels}, chunk_frames={self.chunk_frames}, lookahead_frames={self.lookahead_frames})"
        )
