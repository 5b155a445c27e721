"""Text front ends: turn text into the utterance's first tensor, ``symbols``."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

from ._data import Utterance
from ._errors import FrontendError, ParameterError
from ._instantiate import instantiate, load_class
from ._registry import get_registry
from ._segments import segment_text

__all__ = ["Frontend", "CharacterFrontend", "build_frontend", "normalize_text", "number_to_words"]


class Frontend:
    """Base of text front ends; an addon's ``frontend`` table names one and gives its parameters."""

    type_name: ClassVar[str] = "Frontend"
    language: ClassVar[str] = "en"
    """The language whose sentence rules ``segments`` applies (an ISO 639 code)."""
    symbols: list[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" not in cls.__dict__:
            cls.type_name = cls.__name__

    @classmethod
    def from_config(cls, params: dict[str, Any], addon: Any) -> Frontend:
        """Build from the ``frontend`` table's keys other than ``type``; ``addon`` is the ``ttsint.Addon``."""
        return cls(**params)

    def __call__(self, text: str) -> Utterance:
        """Return at least ``symbols`` (int64 [N]); raise FrontendError for text it cannot handle.

        It may add ``word_ids`` (int64 [N]): each symbol's word, as an index into ``text.split()``,
        or -1 for symbols between words; then ``synth --timestamps`` can time each word.
        """
        raise NotImplementedError

    def segments(self, text: str, max_symbols: int | None = None, *,
                 source: str = "segments.max_symbols") -> Iterator[tuple[str, Utterance]]:
        """Yield (sentence, utterance) pairs, splitting sentences of more than ``max_symbols`` symbols.

        Every front end gets this from the base class; override it only for other sentence rules.
        """
        return segment_text(text, self, max_symbols, source=source, language=self.language)


def build_frontend(addon: Any) -> Frontend:
    """The front end an addon's ``frontend`` table names, built with the same checks as a block."""
    registry = addon.registry or get_registry()
    params = dict(addon.config["frontend"])
    name = params.pop("type")
    cls, reg = load_class(registry, registry.frontends, name, what="front end", path="frontend.type",
                          base=Frontend, base_name="ttsint Frontend")
    return instantiate(cls, params, addon, path="frontend", name=name, origin=reg)


_PUNCT_MAP = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": " - ", "\u2015": " - ", "\u2212": "-", "\u2026": "...",
    "\u00a0": " ", "\t": " ", "\n": " ", "\r": " ",
})

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred"))


def number_to_words(n: int) -> str:
    """English words for a non-negative integer, e.g. 2048 -> "two thousand forty eight"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    for scale, word in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return f"{number_to_words(high)} {word}" + (f" {number_to_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


def _expand_number(match: re.Match[str]) -> str:
    whole, _, frac = match.group(0).replace(",", "").partition(".")
    if len(whole) > 15:
        return " ".join(_ONES[int(d)] for d in whole)
    words = number_to_words(int(whole))
    if frac:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    return f" {words} "


def normalize_text(text: str, *, lowercase: bool = True, expand_numbers: bool = True) -> str:
    """Unicode-normalise, map typographic punctuation to ASCII, drop accents, spell numbers, tidy spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT_MAP)
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    if expand_numbers:
        text = re.sub(r"\d[\d,]*(?:\.\d+)?", _expand_number, text)
    if lowercase:
        text = text.lower()
    return re.sub(r" +", " ", text).strip()


class CharacterFrontend(Frontend):
    """Maps normalised characters one to one onto the addon's symbol inventory (id 0 is padding).

    ``arrays`` says what it returns: torch tensors (the default) or NumPy arrays ("numpy"), which a
    voice whose blocks all take NumPy needs so that it never imports torch.
    """

    type_name = "characters"

    def __init__(self, symbols: str | list[str], pad: str = "<pad>", lowercase: bool = True,
                 expand_numbers: bool = True, unknown: Literal["error", "skip"] = "error",
                 arrays: Literal["torch", "numpy"] = "torch") -> None:
        if unknown not in ("error", "skip"):
            raise ParameterError("unknown", f"must be 'error' or 'skip', got {unknown!r}")
        if arrays not in ("torch", "numpy"):
            raise ParameterError("arrays", f"must be 'torch' or 'numpy', got {arrays!r}")
        self.arrays = arrays
        chars = list(symbols)
        if len(set(chars)) != len(chars):
            raise ParameterError("symbols", "contains duplicates")
        self.symbols = ([pad] if pad else []) + chars
        self._ids = {s: i for i, s in enumerate(self.symbols)}
        self.lowercase = lowercase
        self.expand_numbers = expand_numbers
        self.unknown = unknown

    def __call__(self, text: str) -> Utterance:
        ids: list[int] = []
        word_ids: list[int] = []
        bad: list[str] = []
        started = False
        # Normalising word by word gives the same characters as normalising the whole text (numbers
        # and punctuation never span a space), and tells which word each symbol belongs to.
        for w, word in enumerate(text.split()):
            norm = normalize_text(word, lowercase=self.lowercase, expand_numbers=self.expand_numbers)
            if not norm:
                continue
            between, started = (" " if started else ""), True
            for i, ch in enumerate(between + norm):
                if ch in self._ids:
                    ids.append(self._ids[ch])
                    word_ids.append(-1 if between and i == 0 else w)
                elif ch not in bad:
                    bad.append(ch)
        if bad and self.unknown == "error":
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in bad[:8])
            raise FrontendError(f"this voice cannot say the character(s) {shown} in {text[:60]!r}; "
                                "remove them, or set frontend.unknown='skip' to drop them")
        if not ids:
            raise FrontendError(f"nothing to say: {text[:60]!r} has no characters this voice knows")
        if self.arrays == "numpy":
            import numpy as np

            return {"symbols": np.array(ids, dtype=np.int64), "word_ids": np.array(word_ids, dtype=np.int64)}
        import torch

        return {"symbols": torch.tensor(ids, dtype=torch.int64),
                "word_ids": torch.tensor(word_ids, dtype=torch.int64)}
