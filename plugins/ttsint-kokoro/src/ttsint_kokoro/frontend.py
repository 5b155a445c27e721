"""Kokoro's front end: espeak-ng IPA (with stress and punctuation) mapped onto Kokoro's 114-symbol vocabulary.

The phonemes come from espeak-ng through phonemizer, with the espeak-ng build that espeakng-loader
ships, so the token ids equal kokoro-onnx's (tests/kokoro checks this on a corpus). Characters outside
the vocabulary are dropped, as Kokoro's own pipeline does. Each utterance is the network's input as
is: the token ids between two pad tokens (id 0), with each token's word for timestamps, as NumPy
arrays (the Kokoro blocks take NumPy, so a Kokoro voice never imports torch).
"""

from __future__ import annotations

import json
import logging
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from ttsint import Frontend, FrontendError, ParameterError, segment_text, split_sentences

__all__ = ["KokoroPhonemes", "load_vocab", "foreign_words", "align_words"]

log = logging.getLogger("ttsint.kokoro")

# espeak-ng keeps process-wide state: one phonemization at a time, in every thread of the process.
_espeak_lock = threading.Lock()
_backends: dict[str, Any] = {}


def load_vocab() -> dict[str, int]:
    """Kokoro-82M's symbol -> token id table (from its config.json, Apache-2.0)."""
    return json.loads((Path(__file__).parent / "vocab.json").read_text(encoding="utf-8"))


def _backend(language: str) -> Any:
    """The espeak-ng backend for ``language``, built once per process with espeakng-loader's library."""
    found = _backends.get(language)
    if found is None:
        import os

        import espeakng_loader
        from phonemizer.backend import EspeakBackend
        from phonemizer.backend.espeak.wrapper import EspeakWrapper

        EspeakWrapper.set_library(os.environ.get("PHONEMIZER_ESPEAK_LIBRARY")
                                  or espeakng_loader.get_library_path())
        EspeakWrapper.set_data_path(espeakng_loader.get_data_path())
        quiet = logging.getLogger("ttsint.kokoro.phonemizer")
        quiet.setLevel(logging.ERROR)
        try:
            found = EspeakBackend(language, preserve_punctuation=True, with_stress=True, logger=quiet)
        except RuntimeError as exc:
            raise FrontendError(f"espeak-ng cannot phonemize {language!r}: {exc}") from None
        _backends[language] = found
    return found


_LATIN_LANGUAGES = {"en", "es", "fr", "it", "pt"}


_NOT_SOUNDS = str.maketrans("", "", "ˈˌː.,!?;:—…\"()“”«»¡¿-'")


def _distance(a: str, b: str) -> int:
    """Levenshtein distance of two phoneme strings; stress, length marks and punctuation left out."""
    a, b = a.translate(_NOT_SOUNDS), b.translate(_NOT_SOUNDS)
    table = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            substitute = table[i - 1][j - 1] + (a[i - 1] != b[j - 1])
            table[i][j] = min(substitute, table[i - 1][j] + 1, table[i][j - 1] + 1)
    return table[-1][-1]


def align_words(alone: list[list[str]], groups: list[str]) -> list[list[tuple[int, int]]] | None:
    """Which words each of the sentence's phoneme ``groups`` speaks: [(word, phonemes), ...] per group.

    ``alone[w]`` is word w's groups when phonemized by itself. A word takes its own groups (one, or
    several for a number), or two to four consecutive words share one group (espeak-ng joined them), or
    a word with no phonemes (a dash) takes none; the alignment with the fewest phoneme edits wins.
    None when no alignment ends both lists together.
    """
    n_words, n_groups = len(alone), len(groups)
    inf = float("inf")
    cost = [[inf] * (n_groups + 1) for _ in range(n_words + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (n_groups + 1) for _ in range(n_words + 1)]
    cost[0][0] = 0.0
    for w in range(n_words + 1):
        for g in range(n_groups + 1):
            here = cost[w][g]
            if here == inf or w == n_words:
                continue
            steps = [(1, k) for k in range(0, 4)]  # one word, 0-3 groups
            steps += [(m, 1) for m in range(2, 5)]  # 2-4 words, one group
            for dw, dg in steps:
                if w + dw > n_words or g + dg > n_groups or (dw == 1 and dg == 0 and alone[w]):
                    continue
                said = " ".join(" ".join(alone[w + i]) for i in range(dw))
                total = here + _distance(said.replace(" ", ""), "".join(groups[g:g + dg]))
                if dw == 1 and dg != max(len(alone[w]), 1) and dg != 0:
                    total += 0.5  # prefer the word's own group count when the edits tie
                if total < cost[w + dw][g + dg]:
                    cost[w + dw][g + dg] = total
                    back[w + dw][g + dg] = (dw, dg)
    if cost[n_words][n_groups] == inf:
        return None
    steps_taken = []
    w, g = n_words, n_groups
    while w or g:
        step = back[w][g]
        if step is None:
            return None
        steps_taken.append((w - step[0], g - step[1], step))
        w, g = w - step[0], g - step[1]
    spans: list[list[tuple[int, int]]] = []
    for w, g, (dw, dg) in reversed(steps_taken):
        if dw == 1:
            spans += [[(w, len(groups[g + i]))] for i in range(dg)]
            continue
        weights = [max(len("".join(alone[w + i]).translate(_NOT_SOUNDS)), 1) for i in range(dw)]
        size = len(groups[g])
        if size < dw:
            return None
        cuts = [round(size * sum(weights[:i]) / sum(weights)) for i in range(dw + 1)]
        cuts = [min(max(c, i), size - (dw - i)) for i, c in enumerate(cuts)]  # each word >= 1 phoneme
        spans.append([(w + i, cuts[i + 1] - cuts[i]) for i in range(dw)])
    return spans


def foreign_words(text: str, language: str) -> list[str]:
    """Words of ``text`` with letters of a script the language's voice cannot speak (e.g. Han in English)."""
    if language[:2] not in _LATIN_LANGUAGES:
        return []
    bad = []
    for word in text.split():
        for ch in word:
            if ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN"):
                bad.append(word)
                break
    return bad


class KokoroPhonemes(Frontend):
    """Text -> espeak-ng IPA -> Kokoro token ids, padded with 0 at both ends; word ids for timestamps."""

    type_name = "kokoro-espeak"
    arrays = "numpy"

    def __init__(self, language: str = "en-us") -> None:
        if not isinstance(language, str) or not language.replace("-", "").isalnum():
            raise ParameterError("language", f"expected an espeak-ng language such as 'en-us', "
                                 f"got {language!r}")
        self.espeak_language = language
        self.language = language[:2]
        self.vocab = load_vocab()
        self.symbols = ["$"] + [s for s, _ in sorted(self.vocab.items(), key=lambda kv: kv[1])]
        self.skipped_words = 0
        self.skipped_sentences = 0
        self._count_lock = threading.Lock()

    # -- phonemes ------------------------------------------------------------------------
    def phonemes(self, text: str) -> str:
        """The IPA kokoro-onnx feeds the network for ``text``: espeak-ng's, filtered to the vocabulary."""
        text = text.strip()
        if not text:
            return ""
        with _espeak_lock:
            raw = _backend(self.espeak_language).phonemize([text], strip=False, njobs=1)
        ipa = "".join(raw)
        # Whitespace runs (espeak-ng's line ends, dropped symbols) become one space, as in kokoro-onnx.
        return " ".join("".join(p for p in ipa if p in self.vocab).split())

    def token_ids(self, text: str) -> list[int]:
        """Token ids of ``text`` without the pads (what kokoro-onnx's tokenizer gives)."""
        return [self.vocab[p] for p in self.phonemes(text)]

    # -- utterances ----------------------------------------------------------------------
    def __call__(self, text: str) -> dict[str, np.ndarray]:
        ipa = self.phonemes(text)
        if not ipa:
            raise FrontendError(f"nothing to say: espeak-ng ({self.espeak_language}) makes no phonemes of "
                                f"{text[:60]!r}")
        ids = [0, *(self.vocab[p] for p in ipa), 0]
        utt = {"symbols": np.array(ids, dtype=np.int64)}
        words = self._word_ids(text, ipa)
        if words is not None:
            utt["word_ids"] = np.array([-1, *words, -1], dtype=np.int64)
        return utt

    def _word_ids(self, text: str, ipa: str) -> list[int] | None:
        """Each phoneme's word in ``text.split()`` (-1 for spaces), or None when they cannot be matched.

        espeak-ng speaks most words as one group of phonemes, but joins short function words to their
        neighbour in context ("in the" -> ``ɪnðə``) and speaks numbers and abbreviations as several
        groups. When the counts differ, each word is phonemized alone and the words are aligned to the
        sentence's groups (``align_words``); a group that joins words is shared between them in
        proportion to their phonemes spoken alone.
        """
        words = text.split()
        groups = ipa.split(" ")
        if len(groups) == len(words):
            spans: list[list[tuple[int, int]]] = [[(w, len(g))] for w, g in enumerate(groups)]
        else:
            alone = [self.phonemes(word).split() for word in words]
            spans_or_none = align_words(alone, groups)
            if spans_or_none is None:
                return None
            spans = spans_or_none
        out: list[int] = []
        for g, parts in enumerate(spans):
            if g:
                out.append(-1)
            for w, n in parts:
                out += [w] * n
        return out

    def encode_parts(self, parts: list[tuple[str, str]]) -> dict[str, np.ndarray]:
        """An utterance from ("text", str) and ("ipa", str) pieces in order, for SSML's ``<phoneme>``: text
        through espeak-ng, IPA as given (symbols outside the vocabulary dropped). ``word_ids`` count words
        as the joined text splits them (an IPA piece is its written word); left out when they cannot be
        matched, so no word is ever timed wrongly."""
        groups: list[str] = []
        owners: list[int] | None = []
        written = ""
        for kind, piece in parts:
            joined = bool(written) and not written[-1].isspace() and bool(piece) and not piece[0].isspace()
            first = len(written.split()) - (1 if joined else 0)
            if kind == "ipa":
                found = ["".join(p for p in piece if p in self.vocab)]
                words = 1
                written += "x"  # the IPA stands for one written word; the caller's text says which
            else:
                found = self.phonemes(piece).split()
                words = len(piece.split())
                written += piece
            found = [g for g in found if g]
            groups += found
            if owners is not None:
                owners = owners + [first + i for i in range(len(found))] if len(found) == words else None
        if not groups:
            raise FrontendError("nothing to say: the text and IPA give no phonemes this voice knows")
        ipa = " ".join(groups)
        utt = {"symbols": np.array([0, *(self.vocab[p] for p in ipa), 0], dtype=np.int64)}
        if owners is not None:
            ids: list[int] = []
            for g, group in enumerate(groups):
                ids += ([-1] if g else []) + [owners[g]] * len(group)
            utt["word_ids"] = np.array([-1, *ids, -1], dtype=np.int64)
        return utt

    def segments(self, text: str, max_symbols: int | None = None, *,
                 source: str = "segments.max_symbols") -> Iterator[tuple[str, dict[str, np.ndarray]]]:
        """Sentences as the base class makes them, after dropping words in a script this voice cannot speak.

        Each drop is logged and counted (``skipped_words``, ``skipped_sentences``); a text with nothing
        left to say is a FrontendError.
        """
        spoken = 0
        for sentence in split_sentences(text, self.language):
            bad = foreign_words(sentence, self.espeak_language)
            if bad:
                kept = " ".join(w for w in sentence.split() if w not in bad)
                with self._count_lock:
                    self.skipped_words += len(bad)
                    self.skipped_sentences += 0 if kept.strip() else 1
                log.warning("kokoro (%s) cannot speak the script of %d word(s) %s; skipped%s",
                            self.espeak_language, len(bad), " ".join(bad[:5])[:80],
                            "" if kept.strip() else " the whole sentence")
                sentence = kept
            if not any(ch.isalnum() for ch in sentence):
                continue
            spoken += 1
            yield from segment_text(sentence, self, max_symbols, source=source, language=self.language)
        if not spoken:
            raise FrontendError(f"nothing to say: {text[:60]!r} has no words in a script that this "
                                f"{self.espeak_language} voice can speak (the others were skipped)")
