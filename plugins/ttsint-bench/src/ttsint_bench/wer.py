"""Word error rate by pocketsphinx's bundled US English model, offline, for any engine's audio."""

from __future__ import annotations

import re
from collections.abc import Sequence
from math import gcd
from pathlib import Path

import numpy as np
import ttsint

__all__ = ["EVERYDAY", "Transcriber", "edit_distance", "everyday_sentences", "words"]

#: 40 everyday sentences, none in en-rms's training text.
EVERYDAY = Path(__file__).with_name("everyday.txt")


def everyday_sentences(limit: int | None = None) -> list[str]:
    return [s.strip() for s in EVERYDAY.read_text().splitlines() if s.strip()][:limit]


def words(text: str) -> list[str]:
    """Lower-case words, no punctuation, numbers spelled out: how reference and transcript compare."""
    text = ttsint.normalize_text(text).replace("-", " ")
    return re.sub(r"[^a-z' ]+", " ", text).split()


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Word-level Levenshtein distance (substitutions, insertions, deletions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


class Transcriber:
    """pocketsphinx 5 (pip install pocketsphinx) at 16 kHz; other rates are resampled first."""

    rate = 16000

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=self.rate, loglevel="FATAL")

    def __call__(self, samples: np.ndarray, rate: int) -> list[str]:
        samples = np.asarray(samples, dtype=np.float64).reshape(-1)
        if rate != self.rate:
            from scipy.signal import resample_poly  # scipy comes with pystoi, in the quality extra

            g = gcd(rate, self.rate)
            samples = resample_poly(samples, self.rate // g, rate // g)
        pcm = (np.clip(samples, -1, 1) * 32767).round().astype("<i2").tobytes()
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return words(hyp.hypstr if hyp is not None else "")
