"""Text -> phone strings with Flite (voice "rms", US English lexicon + letter-to-sound rules).

Used by the corpus builder. The run-time front end (``ttsint_voice_en.frontend``) derives the same
phones from libflite in process, without synthesizing audio; its tests compare it with this path.
Flite marks the start, the end and every pause it inserts at punctuation (, . ; : ? ! and
similar) with the phone "pau"; there is no pause between ordinary words.
"""

from __future__ import annotations

import shutil
import subprocess

__all__ = ["FLITE_VOICE", "flite_binary", "text_to_phones", "text_to_phones_and_wave"]

FLITE_VOICE = "rms"


def flite_binary() -> str:
    path = shutil.which("flite")
    if path is None:
        raise RuntimeError("flite not found; install it with: apt-get install -y flite")
    return path


def _clean(text: str) -> str:
    # Newlines / tabs become spaces; a leading '-' could be read as an option by some shells.
    return " ".join(text.split())


def text_to_phones(text: str) -> list[str]:
    """Phone sequence Flite would speak for `text` (no audio is written)."""
    out = subprocess.run(
        [flite_binary(), "-voice", FLITE_VOICE, "-t", _clean(text), "-o", "none", "-ps"],
        check=True, capture_output=True, text=True,
    ).stdout
    return out.split()


def text_to_phones_and_wave(text: str, wav_path: str) -> list[tuple[str, float]]:
    """Synthesize `text` to a 16 kHz WAV and return (phone, end time in seconds) pairs.

    `flite -psdur` prints one whitespace-separated token per phone, "phone:end_seconds".
    """
    out = subprocess.run(
        [flite_binary(), "-voice", FLITE_VOICE, "-t", _clean(text), "-o", wav_path, "-psdur"],
        check=True, capture_output=True, text=True,
    ).stdout
    pairs = []
    for tok in out.split():
        phone, _, end = tok.rpartition(":")
        pairs.append((phone, float(end)))
    return pairs
