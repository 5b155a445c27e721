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
    """For each frame's bins [T, F], the local maximum reached by always stepping to the louder neighbour."""
    below = np.full_like(s, -np.inf)
    above = np.full_like(s, -np.inf)
    below[:, 1:] = s[:, :-1]
    above[:, :-1] = s[:, 1:]
    # Uphill to the louder side; across a plateau, leftwards, so a flat stretch is one region, not many peaks.
    step = np.where(
        (above > s) & (above >= below), 1, np.where((below > s) | ((below == s) & (above <= s)), -1, 0)
    )
    root = (np.arange(s.size).reshape(s.shape) + step).ravel()  # flat indices stay inside their frame
    # Pointer jumping: after j rounds each bin points 2**j steps up its hill; stop once all reach a top.
    while True:
        jumped = root[root]
        if np.array_equal(jumped, root):
            break
        root = jumped
    return root.reshape(s.shape) % s.shape[1]


def _integrate(
    s: np.ndarray,
    spec: MelSpec,
    previous: tuple[np.ndarray, np.ndarray] | None,
    following: np.ndarray | None,
) -> np.ndarray:
    """Phases [T, F] (centred-window convention, not wrapped) for log-magnitudes ``s`` [T, F].

    ``previous`` is (log-magnitude, phase) of the frame before, ``following`` the log-magnitude of the
    frame after; where they are None the utterance starts or ends there.
    """
    n_frames, n_freq = s.shape
    lam = HANN_LAMBDA * spec.win_length**2  # Gaussian window exp(-pi n^2 / lam), n in samples
    parts = (
        ([previous[0][None]] if previous else []) + [s] + ([following[None]] if following is not None else [])
    )
    s_ext = np.concatenate(parts) if len(parts) > 1 else s
    # d(phase)/d(sample) = 2 pi k / N + (N / lam) d(logmag)/dk; centred differences, one-sided at the edges.
    ds_dk = np.gradient(s_ext, axis=1) if n_freq > 1 else np.zeros_like(s_ext)
    omega = 2 * math.pi * np.arange(n_freq) / spec.n_fft + (spec.n_fft / lam) * ds_dk
    # d(phase)/d(bin) = -(lam / (hop N)) d(logmag)/dframe.
    ds_dm = np.gradient(s_ext, axis=0) if s_ext.shape[0] > 1 else np.zeros_like(s_ext)
    dphi_dk = -(lam / (spec.hop_length * spec.n_fft)) * ds_dm
    first = 1 if previous else 0
    dphi_dk = dphi_dk[first : first + n_frames]
    # Advance of each bin's phase from the frame before (trapezoidal along time); none before the first frame.
    advance = 0.5 * spec.hop_length * (omega[1 : first + n_frames] + omega[: first + n_frames - 1])
    if not previous:
        advance = np.concatenate([np.zeros((1, n_freq)), advance])
    # Phase of bin k relative to bin 0 within each frame (trapezoidal along frequency).
    along = np.zeros_like(dphi_dk)
    along[:, 1:] = np.cumsum(0.5 * (dphi_dk[:, 1:] + dphi_dk[:, :-1]), axis=1)
    root = _peak_roots(s)
    # phase[m, k] = phase[m - 1, root] + advance[m, root] + along[m, k] - along[m, root]
    offset = (advance - along)[np.arange(n_frames)[:, None], root] + along
    phase = np.empty_like(s)
    last = previous[1] if previous else np.zeros(n_freq)
    for m in range(n_frames):
        last = last[root[m]] + offset[m]
        phase[m] = last
    return phase


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
        self.shift = math.pi * np.arange(n_fft // 2 + 1)
        self._weights: dict[int, np.ndarray] = {}  # the window-square sum of n frames, by n

    @property
    def lookahead_frames(self) -> int:
        """Mel frames beyond a frame that must arrive before its samples are out."""
        return 1 + math.ceil(self.spec.n_fft / 2 / self.spec.hop_length)

    def _synthesize(self, mag: np.ndarray, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windowed inverse FFTs of frames [F, T] (phases [T, F]) overlap-added, and the window-square sum."""
        n, s = mag.shape[1], self.spec
        angle = phase + self.shift
        magnitude = mag.T.astype(np.float64)
        spec = np.empty(angle.shape, np.complex128)
        np.multiply(magnitude, np.cos(angle), out=spec.real)
        np.multiply(magnitude, np.sin(angle), out=spec.imag)
        frames = np.fft.irfft(spec, n=s.n_fft).astype(np.float32) * self.window  # [T, n_fft]
        weight = self._weights.get(n)
        if weight is None:
            squares = np.broadcast_to(self.window**2, (n, s.n_fft))
            weight = self._weights[n] = _overlap_add(squares, s.hop_length)
        return _overlap_add(frames, s.hop_length), weight

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        s = self.spec
        hop, half = s.hop_length, s.n_fft // 2
        pending = np.zeros((s.n_fft // 2 + 1, 0), np.float32)  # magnitudes of frames not phased yet
        # log-magnitude and phase of the last phased frame
        previous: tuple[np.ndarray, np.ndarray] | None = None
        phased = received = emitted = 0
        acc_start = -half  # sample index of acc[0]: frame 0 is centred on sample 0
        acc = np.zeros(0, np.float32)
        norm = np.zeros(0, np.float32)
        as_torch = False  # whether the upstream sent torch tensors: the output keeps their kind

        def advance(final: bool) -> np.ndarray | None:
            nonlocal pending, previous, phased, acc, norm, acc_start, emitted
            n = min(self.chunk_frames, pending.shape[1] if final else pending.shape[1] - 1)
            final = final and n == pending.shape[1]
            if n > 0:
                logmag = np.log(np.maximum(pending[:, : n + 1], np.float32(s.log_floor))).astype(np.float64).T
                following = None if final else logmag[n]
                phase = _integrate(logmag[:n], s, previous, following)
                previous = (logmag[n - 1], np.mod(phase[n - 1], 2 * math.pi))
                summed, weight = self._synthesize(pending[:, :n], phase)
                offset = phased * hop - half - acc_start
                grow = offset + summed.shape[0] - acc.shape[0]
                acc = np.concatenate([acc, np.zeros(grow, np.float32)])
                norm = np.concatenate([norm, np.zeros(grow, np.float32)])
                acc[offset:] += summed
                norm[offset:] += weight
                pending = pending[:, n:]
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
            pending = np.concatenate([pending, self.inverse(to_numpy(chunk.frames))], axis=1)
            received += len(chunk)
            while pending.shape[1] > 1:
                start = emitted
                out = advance(final=False)
                if out is not None:
                    yield Chunk(frames=to_torch(out) if as_torch else out, start=start)
        while pending.shape[1] or emitted < received * hop:
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
