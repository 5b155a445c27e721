"""Peer engines run as command-line programs on the same texts and machine: Flite (rms) and eSpeak NG."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ttsint

__all__ = ["PEERS", "Peer", "Spoken"]


@dataclass(frozen=True)
class Spoken:
    """One peer run: its samples, their rate, and the wall time from process start to a written file."""

    samples: np.ndarray
    rate: int
    seconds: float

    @property
    def audio_seconds(self) -> float:
        return self.samples.shape[0] / self.rate


@dataclass(frozen=True)
class Peer:
    """A text-to-speech program that writes a WAV file; it does not stream, so first audio is total time."""

    name: str
    program: str
    args: tuple[str, ...]  # with {text} and {out} placeholders
    package: str  # what to install when it is missing

    def available(self) -> bool:
        return shutil.which(self.program) is not None

    def speak(self, text: str) -> Spoken:
        with tempfile.TemporaryDirectory() as tmp:
            out = str(Path(tmp) / "peer.wav")
            argv = [self.program] + [a.format(text=text, out=out) for a in self.args]
            start = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            seconds = time.perf_counter() - start
            samples, rate = ttsint.read_wav(out)
        return Spoken(np.asarray(samples, dtype=np.float32).reshape(-1), int(rate), seconds)


PEERS = {
    "flite": Peer(
        "flite", "flite", ("-voice", "rms", "-t", "{text}", "-o", "{out}"), "apt-get install flite"
    ),
    "espeak-ng": Peer("espeak-ng", "espeak-ng", ("-w", "{out}", "{text}"), "apt-get install espeak-ng"),
}
