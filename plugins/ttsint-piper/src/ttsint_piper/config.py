"""A Piper voice's ``.onnx.json``, read into a small typed config and checked before anything runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ttsint import AddonError

__all__ = ["PiperConfig", "MAX_PHONEMES", "config_path_for"]

MAX_PHONEMES = 1024
"""Most entries a phoneme_id_map may have: Piper's largest maps hold a few hundred."""
MAX_CONFIG_BYTES = 1 << 20
SAMPLE_RATES = (8000, 48000)
PAD, BOS, EOS = "_", "^", "$"


def config_path_for(model: Path) -> Path:
    """Where Piper keeps a model's config: ``VOICE.onnx.json`` beside ``VOICE.onnx``."""
    return model.with_name(model.name + ".json")


@dataclass(frozen=True)
class PiperConfig:
    """What ttsint needs from a Piper voice config: audio rate, espeak voice, phoneme ids, default scales."""

    sample_rate: int
    espeak_voice: str
    phoneme_id_map: dict[str, list[int]]
    num_symbols: int
    noise_scale: float = 0.667
    length_scale: float = 1.0
    noise_w: float = 0.8
    num_speakers: int = 1
    language: str = ""
    vowel_clusters: list[list[str]] = field(default_factory=list)
    phoneme_type: str = "espeak"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_file(cls, path: str | Path) -> PiperConfig:
        """Read and check ``path``; every problem is an AddonError naming the file and the field."""
        path = Path(path)
        try:
            size = path.stat().st_size
        except OSError:
            raise AddonError(
                f"{path}: the voice's config is missing\n  a Piper voice is VOICE.onnx plus "
                "VOICE.onnx.json from the same release; put both in one folder"
            ) from None
        if size > MAX_CONFIG_BYTES:
            raise AddonError(
                f"{path}: {size:,} bytes is too large for a Piper voice config (at most {MAX_CONFIG_BYTES:,})"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise AddonError(f"{path}: not a readable JSON voice config ({exc})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Any, where: str = "voice config") -> PiperConfig:
        def fail(key: str, message: str) -> AddonError:
            return AddonError(f"{where}: {key}: {message}")

        if not isinstance(data, Mapping):
            raise fail("(top level)", "expected a JSON object")
        phoneme_type = data.get("phoneme_type", "espeak")
        if phoneme_type != "espeak":
            raise fail(
                "phoneme_type",
                f"{phoneme_type!r} voices are not supported; ttsint-piper reads "
                "espeak-ng voices (most of Piper's collection)",
            )
        rate = _get(data, "audio", "sample_rate")
        low, high = SAMPLE_RATES
        if isinstance(rate, bool) or not isinstance(rate, int) or not low <= rate <= high:
            raise fail(
                "audio.sample_rate", f"expected an integer rate between {low} and {high} Hz, got {rate!r}"
            )
        voice = _get(data, "espeak", "voice")
        if not isinstance(voice, str) or not voice or len(voice) > 64 or not voice.replace("-", "").isalnum():
            raise fail("espeak.voice", f"expected an espeak-ng voice name such as 'en-us', got {voice!r}")
        id_map = data.get("phoneme_id_map")
        if not isinstance(id_map, Mapping) or not id_map:
            raise fail("phoneme_id_map", "missing or empty")
        if len(id_map) > MAX_PHONEMES:
            raise fail(
                "phoneme_id_map", f"{len(id_map):,} entries; a Piper voice has at most {MAX_PHONEMES:,}"
            )
        num_symbols = data.get("num_symbols", 256)
        if isinstance(num_symbols, bool) or not isinstance(num_symbols, int) or not 1 <= num_symbols <= 65536:
            raise fail("num_symbols", f"expected a positive integer, got {num_symbols!r}")
        checked: dict[str, list[int]] = {}
        for phoneme, ids in id_map.items():
            if not isinstance(phoneme, str) or not phoneme or len(phoneme) > 8:
                raise fail("phoneme_id_map", f"{phoneme!r} is not a phoneme (1 to 8 characters)")
            if (
                not isinstance(ids, list)
                or not 1 <= len(ids) <= 4
                or not all(
                    isinstance(i, int) and not isinstance(i, bool) and 0 <= i < num_symbols for i in ids
                )
            ):
                raise fail(
                    f"phoneme_id_map.{phoneme}",
                    f"expected 1 to 4 ids below num_symbols ({num_symbols}), got {ids!r}",
                )
            checked[phoneme] = list(ids)
        for special in (PAD, BOS, EOS):
            if special not in checked:
                raise fail("phoneme_id_map", f"has no {special!r}, which Piper puts around every phoneme")
        inference = data.get("inference", {}) or {}
        scales = {}
        for key, default in (("noise_scale", 0.667), ("length_scale", 1.0), ("noise_w", 0.8)):
            value = inference.get(key, default) if isinstance(inference, Mapping) else default
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10:
                raise fail(f"inference.{key}", f"expected a number between 0 and 10, got {value!r}")
            scales[key] = float(value)
        speakers = data.get("num_speakers", 1)
        if isinstance(speakers, bool) or not isinstance(speakers, int) or speakers < 1:
            raise fail("num_speakers", f"expected a positive integer, got {speakers!r}")
        clusters = data.get("vowel_clusters") or []
        if not isinstance(clusters, list) or not all(
            isinstance(c, list) and all(isinstance(p, str) for p in c) for c in clusters
        ):
            raise fail("vowel_clusters", "expected a list of lists of phonemes")
        language = _get(data, "language", "code")
        return cls(
            sample_rate=rate,
            espeak_voice=voice,
            phoneme_id_map=checked,
            num_symbols=num_symbols,
            num_speakers=speakers,
            language=language if isinstance(language, str) else "",
            vowel_clusters=[list(c) for c in clusters],
            phoneme_type=phoneme_type,
            raw=dict(data),
            **scales,
        )


def _get(data: Mapping[str, Any], table: str, key: str) -> Any:
    inner = data.get(table)
    return inner.get(key) if isinstance(inner, Mapping) else None
