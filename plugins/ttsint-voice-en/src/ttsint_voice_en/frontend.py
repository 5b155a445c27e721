"""Text to CMU phones with Flite's lexicon and letter-to-sound rules: the phones the voice was trained on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import torch
import ttsint
from ttsint import FrontendError, Utterance, normalize_text

__all__ = ["FlitePhones", "text_to_phones", "flite_binary"]

FLITE_VOICE = "rms"


def flite_binary() -> str:
    """Path of the flite program, or a FrontendError saying how to install it."""
    path = shutil.which("flite")
    if path is None:
        raise FrontendError("this voice's front end needs the flite program, which is not installed: "
                            "run `apt-get install flite` (or `bash setup.sh`, which does it)")
    return path


def clean_text(text: str) -> str:
    """What flite is given: ASCII-normalised text on one line."""
    return " ".join(normalize_text(text, lowercase=False, expand_numbers=False).split())


def text_to_phones(text: str, voice: str = FLITE_VOICE) -> list[str]:
    """The phone sequence flite would speak for ``text`` (no audio is made); pauses are "pau"."""
    cleaned = clean_text(text)
    if not re.search(r"[A-Za-z0-9]", cleaned):
        raise FrontendError(f"nothing to say: {text[:60]!r} has no letters or digits")
    try:
        out = subprocess.run([flite_binary(), "-voice", voice, "-t", cleaned, "-o", "none", "-ps"],
                             check=True, capture_output=True, text=True, timeout=60)
    except subprocess.SubprocessError as exc:
        raise FrontendError(f"flite could not phonemize {text[:60]!r}: {exc}") from exc
    return out.stdout.split()


class FlitePhones(ttsint.Frontend):
    """Phonemizes with flite and maps phones onto the addon's inventory (``symbols`` or ``symbols_file``)."""

    type_name = "flite-phones"

    def __init__(self, symbols: list[str] | None = None, symbols_file: str | Path | None = None,
                 voice: str = FLITE_VOICE) -> None:
        if (symbols is None) == (symbols_file is None):
            raise ValueError("give exactly one of symbols (a list) or symbols_file (a JSON list)")
        if symbols_file is not None:
            try:
                symbols = json.loads(Path(symbols_file).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"symbols_file {str(symbols_file)!r} is not a readable JSON list: "
                                 f"{exc}") from None
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise ValueError(f"symbols must be a list of phone names, got {type(symbols).__name__}")
        self.symbols = list(symbols)
        self.voice = voice
        self._ids = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def from_config(cls, params: dict[str, Any], addon: ttsint.Addon | None) -> FlitePhones:
        params = dict(params)
        if "symbols_file" in params and addon is not None:
            params["symbols_file"] = addon.file(params["symbols_file"], "frontend.symbols_file")
        return cls(**params)

    def __call__(self, text: str) -> Utterance:
        phones = text_to_phones(text, self.voice)
        unknown = sorted({p for p in phones if p not in self._ids})
        if unknown:
            raise FrontendError(f"flite produced phones this voice does not know: {unknown}")
        if not any(p != "pau" for p in phones):
            raise FrontendError(f"nothing to say: flite found no speech sounds in {text[:60]!r}")
        return {"symbols": torch.tensor([self._ids[p] for p in phones], dtype=torch.int64)}
