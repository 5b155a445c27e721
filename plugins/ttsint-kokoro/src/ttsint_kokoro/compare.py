"""The int8 and float32 forms of one Kokoro voice side by side: how far apart their outputs are.

The two forms are not meant to be equal: the int8 export quantises each layer's input at run time, the
float32 form does not, so durations may round to another frame and the waveform's phase drifts. A
sample-by-sample difference says little, so the figures are the ones a listener would notice: how many
tokens got the same number of frames, the length difference, and the log-mel distance (in dB) over
the tokens whose durations agree, each token's frames taken at its own offset in each form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["FormDifference", "compare_forms", "log_mel"]


@dataclass(frozen=True)
class FormDifference:
    """One text through both forms."""

    text: str
    tokens: int
    same_durations: int
    """Tokens (pads included) that both forms give the same number of frames."""
    int8_seconds: float
    float32_seconds: float
    mel_db: float
    """Mean |log-mel int8 - log-mel float32| in dB over the frames of the tokens whose durations agree."""
    max_abs_diff: float | None
    """Largest sample difference, when all durations agree (phase makes it large even so)."""


def log_mel(audio: np.ndarray, sample_rate: int = 24_000, n_fft: int = 1024, hop: int = 300,
            n_mels: int = 80) -> np.ndarray:
    """Log-mel power spectrogram in dB, [frames, n_mels], floored at -100 dB; NumPy only."""
    audio = np.asarray(audio, np.float64).ravel()
    if len(audio) < n_fft:
        audio = np.pad(audio, (0, n_fft - len(audio)))
    frames = 1 + (len(audio) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    power = np.abs(np.fft.rfft(audio[index] * np.hanning(n_fft), axis=1)) ** 2
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    edges = 700 * (10 ** (np.linspace(mel(0), mel(sample_rate / 2), n_mels + 2) / 2595) - 1)
    bins = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    weights = np.zeros((n_mels, len(bins)))
    for m in range(n_mels):
        lo, mid, hi = edges[m:m + 3]
        weights[m] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0, None)
    return 10 * np.log10(np.maximum(power @ weights.T, 1e-10))


def compare_forms(int8: object, float32: object, frontend: object, pack: np.ndarray,
                  texts: Sequence[str]) -> list[FormDifference]:
    """Run each text through both KokoroSessions (same tokens, same style row) and compare."""
    from .voices import style_for

    rows = []
    for text in texts:
        symbols = np.asarray(frontend.token_ids(text), np.int64)
        symbols = np.concatenate([[0], symbols, [0]])
        style = style_for(pack, len(symbols) - 2)
        a, da = int8.run(symbols, style)
        b, db = float32.run(symbols, style)
        aligned = bool(np.array_equal(da, db))
        rows.append(FormDifference(
            text, len(symbols) - 2, int((da == db).sum()), len(a) / 24_000, len(b) / 24_000,
            _token_mel_db(a, da, b, db), float(np.abs(a - b).max()) if aligned else None))
    return rows


def _token_mel_db(a: np.ndarray, da: np.ndarray, b: np.ndarray, db: np.ndarray) -> float:
    """Mean log-mel difference over the frames of tokens with equal durations (2 mel frames per duration)."""
    ma, mb = log_mel(a), log_mel(b)
    starts_a, starts_b = 2 * np.concatenate([[0], np.cumsum(da)]), 2 * np.concatenate([[0], np.cumsum(db)])
    diffs = []
    for i in np.flatnonzero(da == db):
        n = 2 * int(da[i])
        x, y = ma[starts_a[i]:starts_a[i] + n], mb[starts_b[i]:starts_b[i] + n]
        n = min(len(x), len(y))
        if n:
            diffs.append(np.abs(x[:n] - y[:n]))
    return float(np.concatenate(diffs).mean()) if diffs else float("nan")
