"""Kokoro voice packs: one 256-value style vector per token count, read from the forms users already have.

A pack is float32 [510, 1, 256]: row n - 1 is the style for a chunk of n tokens. kokoro-js ships each
pack as a raw ``.bin``; kokoro-onnx's ``voices-v1.0.bin`` is an ``.npz`` archive of packs by name; a
``.npy`` holds one. Voices mix as Kokoro-FastAPI mixes them: the weighted sum of packs, weights
normalised to 1.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ttsint import AddonError

__all__ = ["PACK_SHAPE", "Mix", "load_pack", "read_packs", "check_pack", "parse_mix", "mix_packs",
           "style_for", "LANGUAGES"]

PACK_SHAPE = (510, 1, 256)
_PACK_BYTES = int(np.prod(PACK_SHAPE)) * 4
_MAX_FILE = 1 << 30
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

LANGUAGES = {"a": "en-us", "b": "en-gb", "e": "es", "f": "fr-fr", "h": "hi", "i": "it", "p": "pt-br"}
"""The espeak-ng language of a pack by the first letter of its name (Kokoro's convention); Japanese and
Mandarin packs need a G2P that espeak-ng does not give, so they are not made into voices."""


def check_pack(pack: np.ndarray, where: str) -> np.ndarray:
    """``pack`` as float32 [510, 1, 256], or an AddonError naming ``where`` and what is wrong."""
    if pack.dtype != np.float32:
        raise AddonError(f"{where}: a Kokoro voice pack holds float32 values, this one {pack.dtype}; "
                         "export it as float32 [510, 1, 256]")
    if pack.shape == (510, 256):
        pack = pack[:, None, :]
    if tuple(pack.shape) != PACK_SHAPE:
        raise AddonError(f"{where}: a Kokoro voice pack has shape [510, 1, 256] (one style row per token "
                         f"count), this one {list(pack.shape)}; it is not a Kokoro v1.0 voice")
    if not np.isfinite(pack).all():
        row = int(np.nonzero(~np.isfinite(pack).reshape(510, -1).all(axis=1))[0][0])
        raise AddonError(f"{where}: style row {row} holds NaN or infinite values; the voice file is damaged, "
                         "copy it again")
    return np.ascontiguousarray(pack)


def read_packs(path: Path) -> dict[str, np.ndarray]:
    """Every pack in ``path`` by name: a raw ``.bin``, an ``.npy``, or an ``.npz`` (voices-v1.0.bin)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > _MAX_FILE:
            raise AddonError(f"{path}: {size:,} bytes is far more than a set of voice packs")
        data = path.read_bytes()
    except OSError as exc:
        raise AddonError(f"cannot read the voice file {path}: {exc.strerror or exc}") from None
    if data[:4] == b"PK\x03\x04":  # an .npz, whatever its suffix
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                packs = {name: archive[name] for name in archive.files}
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise AddonError(f"{path}: not a readable .npz of voice packs ({exc})") from None
        if not packs:
            raise AddonError(f"{path}: the archive holds no voice packs")
    elif data[:6] == b"\x93NUMPY":
        try:
            packs = {path.stem: np.load(io.BytesIO(data), allow_pickle=False)}
        except ValueError as exc:
            raise AddonError(f"{path}: not a readable .npy voice pack ({exc})") from None
    else:
        if len(data) != _PACK_BYTES:
            raise AddonError(f"{path}: {len(data):,} bytes; a raw Kokoro voice pack (.bin) is float32 "
                             f"[510, 1, 256], {_PACK_BYTES:,} bytes")
        packs = {path.stem: np.frombuffer(data, dtype="<f4").reshape(PACK_SHAPE).astype(np.float32)}
    for name in packs:
        if not _NAME.match(name):
            raise AddonError(f"{path}: the voice name {name!r} is not a plain name (letters, digits, _ . -)")
    return {name: check_pack(pack, f"{path} ({name})") for name, pack in packs.items()}


def load_pack(path: Path) -> np.ndarray:
    """The one pack in ``path``."""
    packs = read_packs(path)
    if len(packs) != 1:
        raise AddonError(f"{path}: holds {len(packs)} voice packs where one was expected")
    return next(iter(packs.values()))


@dataclass(frozen=True)
class Mix:
    """A voice-mix name parsed: pack names and their weights (normalised to sum to 1)."""

    packs: tuple[str, ...]
    weights: tuple[float, ...]

    @property
    def name(self) -> str:
        if len(self.packs) == 1:
            return self.packs[0]
        return "+".join(f"{p}*{w:g}" for p, w in zip(self.packs, self.weights, strict=True))


_TERM = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*?)(?:\*([^*+]+))?$")


def parse_mix(text: str) -> Mix:
    """``af_heart+am_michael`` (equal weights) or ``af_heart*0.7+am_michael*0.3``; weights must be > 0."""
    terms = text.split("+")
    if len(terms) > 16:
        raise AddonError(f"voice mix {text!r} names {len(terms)} packs; mix at most 16")
    packs, weights = [], []
    for term in terms:
        match = _TERM.match(term.strip())
        if not match:
            raise AddonError(f"voice mix {text!r}: {term!r} is not PACK or PACK*WEIGHT "
                             "(e.g. kokoro-af_heart*0.7+am_michael*0.3)")
        name, weight = match.group(1), match.group(2)
        try:
            value = 1.0 if weight is None else float(weight)
        except ValueError:
            raise AddonError(f"voice mix {text!r}: the weight {weight!r} of {name} is not a number") from None
        if not np.isfinite(value) or value <= 0:
            raise AddonError(f"voice mix {text!r}: the weight of {name} is {weight}; weights must be "
                             "positive numbers (leave a voice out rather than give it 0)")
        if name in packs:
            raise AddonError(f"voice mix {text!r} names {name} twice; give it one weight")
        packs.append(name)
        weights.append(value)
    total = sum(weights)
    return Mix(tuple(packs), tuple(w / total for w in weights))


def mix_packs(packs: list[np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    """The weighted sum of ``packs`` (weights already normalised)."""
    out = np.zeros(PACK_SHAPE, dtype=np.float32)
    for pack, weight in zip(packs, weights, strict=True):
        out += np.float32(weight) * pack
    return out


def style_for(pack: np.ndarray, tokens: int) -> np.ndarray:
    """The style row for a chunk of ``tokens`` phoneme tokens (pads not counted): row ``tokens - 1``."""
    return pack[min(max(tokens, 1), len(pack)) - 1].reshape(-1)
