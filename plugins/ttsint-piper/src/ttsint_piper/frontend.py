"""Text to a Piper voice's phoneme ids: espeak-ng clauses, punctuation kept, ``^ _ ... $`` padding.

The same steps as piper-tts 1.8 (its ids are the test's reference): a clause's IPA loses espeak's
language-switch flags, gains its terminator (plus a space after ``,``, ``:``, ``;``), is split into
Unicode code points after NFD, and a sentence ends where espeak-ng ends one. Each phoneme becomes its
ids followed by the pad id; phonemes the voice does not know are skipped with a warning and counted.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import ttsint
from ttsint import FrontendError, ParameterError, Utterance

from .config import BOS, EOS, PAD, PiperConfig
from .espeak import espeak_library

__all__ = ["PiperPhonemes", "phonemize", "phonemes_to_ids"]

LOG = logging.getLogger("ttsint_piper")
_LANGUAGE_FLAGS = re.compile(r"\([^)]+\)")
_PUNCTUATION = frozenset('.,:;!?¡¿—…"«»“”()[]{}')


def phonemize(
    text: str, voice: str, vowel_clusters: list[list[str]] | None = None, linking_glide: bool = True
) -> list[list[str]]:
    """The phonemes of ``text``, one list per sentence, as piper-tts's PiperVoice.phonemize returns them."""
    sentences: list[list[str]] = []
    current: list[str] = []
    clusters = {tuple(c) for c in vowel_clusters or [] if len(c) > 1}
    for clause in espeak_library().clauses(text, voice, linking_glide):
        phonemes = _LANGUAGE_FLAGS.sub("", clause.phonemes) + clause.terminator
        if clause.terminator in (",", ":", ";"):
            phonemes += " "
        current.extend(unicodedata.normalize("NFD", phonemes))
        if clause.sentence_end:
            sentences.append(_merge_clusters(current, clusters))
            current = []
    if current:
        sentences.append(_merge_clusters(current, clusters))
    if sentences and not sentences[-1]:
        sentences.pop()
    return sentences


def _merge_clusters(phonemes: list[str], clusters: set[tuple[str, ...]]) -> list[str]:
    """Adjacent phonemes that form one of the voice's vowel clusters become one phoneme (longest first)."""
    if not clusters:
        return phonemes
    longest = max(len(c) for c in clusters)
    out: list[str] = []
    i = 0
    while i < len(phonemes):
        for n in range(min(longest, len(phonemes) - i), 1, -1):
            if tuple(phonemes[i : i + n]) in clusters:
                out.append("".join(phonemes[i : i + n]))
                i += n
                break
        else:
            out.append(phonemes[i])
            i += 1
    return out


def phonemes_to_ids(
    phonemes: list[str], id_map: dict[str, list[int]], missing: Counter[str] | None = None
) -> list[int]:
    """``^ _``, each known phoneme's ids and ``_``, then ``$``; unknown phonemes counted in ``missing``."""
    pad = id_map[PAD]
    ids = [*id_map[BOS], *pad]
    for phoneme in phonemes:
        found = id_map.get(phoneme)
        if found is None:
            if missing is not None:
                missing[phoneme] += 1
            continue
        ids.extend(found)
        ids.extend(pad)
    ids.extend(id_map[EOS])
    return ids


class PiperPhonemes(ttsint.Frontend):
    """espeak-ng phonemes mapped through a Piper voice's ``phoneme_id_map`` (its ``.onnx.json``).

    A segment that espeak-ng reads as several sentences (it ends one after "Dr.") becomes one id
    sequence: the core already cut the text into sentences, and one segment is one utterance.
    """

    type_name = "piper-espeak"

    def __init__(
        self,
        config: PiperConfig | str = "voice.onnx.json",
        linking_glide: bool = True,
        installed: str | None = None,
    ) -> None:
        if not isinstance(config, PiperConfig):
            raise ParameterError("config", "build the front end from an addon config, or pass a PiperConfig")
        self.config = config
        self.linking_glide = bool(linking_glide)
        # The core splits sentences by this language's rules (Piper's "en_US" -> "en", espeak's "de" -> "de").
        self.language = (config.language.split("_")[0] or config.espeak_voice.split("-")[0]).lower()
        self.skipped: Counter[str] = Counter()
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, params: dict[str, Any], addon: ttsint.Addon | None) -> PiperPhonemes:
        params = dict(params)
        installed = params.pop("installed", None)
        name = params.pop("config", "voice.onnx.json" if installed else None)
        if name is None:
            raise ParameterError("config", 'name the voice\'s .onnx.json (e.g. config = "voice.onnx.json")')
        if installed is not None:
            from .importer import installed_addon

            path = installed_addon(str(installed)) / "voice.onnx.json"
        else:
            path = addon.file(name, "frontend.config") if addon is not None else Path(name)
        return cls(PiperConfig.from_file(path), **params)

    def sentences(self, text: str) -> list[list[str]]:
        """The phonemes of ``text`` per espeak-ng sentence (piper-tts synthesizes each one on its own)."""
        return phonemize(text, self.config.espeak_voice, self.config.vowel_clusters, self.linking_glide)

    def ids(self, phonemes: list[str]) -> list[int]:
        """Phoneme ids for one sentence; unknown phonemes are skipped, logged once each and counted."""
        missing: Counter[str] = Counter()
        ids = phonemes_to_ids(phonemes, self.config.phoneme_id_map, missing)
        if missing:
            with self._lock:
                new = [p for p in missing if p not in self.skipped]
                self.skipped.update(missing)
            for phoneme in new:
                LOG.warning(
                    "this voice has no id for the phoneme %r (U+%04X); skipped, as Piper does",
                    phoneme,
                    ord(phoneme[0]),
                )
        return ids

    def __call__(self, text: str) -> Utterance:
        sentences = self.sentences(text)
        phonemes = [p for sentence in sentences for p in sentence]
        if not any(p.strip() for p in phonemes):
            raise FrontendError(f"nothing to say: espeak-ng found no phonemes in {text[:60]!r}")
        ids = self.ids(phonemes)
        utt: Utterance = {"symbols": np.array(ids, np.int64)}
        words = self.word_ids(text, phonemes)
        if words is not None and len(words) == len(ids):
            utt["word_ids"] = np.array(words, np.int64)
        return utt

    def encode_parts(self, parts: list[tuple[str, str]]) -> Utterance:
        """An utterance from ("text", str) and ("ipa", str) pieces in order, for SSML's ``<phoneme>``.

        Text goes through espeak-ng as in ``__call__``; IPA is taken as written (NFD code points, the
        voice's vowel clusters merged) and mapped through the same ``phoneme_id_map``, so a symbol the
        voice lacks is skipped, logged once and counted like any other. An IPA piece stands for one
        written word of the run's text (its ``word_ids``), as in the Kokoro front end.
        """
        clusters = {tuple(c) for c in self.config.vowel_clusters or [] if len(c) > 1}
        phonemes: list[str] = []
        owners: list[int] = []
        written = ""
        for kind, piece in parts:
            joined = bool(written) and not written[-1].isspace() and bool(piece) and not piece[0].isspace()
            first = len(written.split()) - (1 if joined else 0)  # the piece's first word in the run's text
            if kind == "ipa":
                found = _merge_clusters(list(unicodedata.normalize("NFD", "".join(piece.split()))), clusters)
                owned = [first] * len(found)
                written += "x"  # the IPA stands for one written word; the caller's text says which
            else:
                found = [p for sentence in self.sentences(piece) for p in sentence]
                owned = [-1 if o < 0 else first + o for o in self._owners(piece, found)]
                # espeak-ng drops a clause's leading punctuation (", you say" after a <phoneme>): keep it
                lead = piece.lstrip()[:1]
                if phonemes and lead in _PUNCTUATION and lead in self.config.phoneme_id_map:
                    found, owned = [lead, " ", *found], [-1, -1, *owned]
                written += piece
            if not found:
                continue
            if phonemes and phonemes[-1] != " " and found[0] != " " and found[0] not in _PUNCTUATION:
                phonemes.append(" ")
                owners.append(-1)
            phonemes += found
            owners += owned
        if not any(p.strip() for p in phonemes):
            raise FrontendError("nothing to say: the text and IPA give no phonemes")
        ids = self.ids(phonemes)
        if not any(p in self.config.phoneme_id_map for p in phonemes if p.strip()):
            raise FrontendError("nothing to say: this voice knows none of the IPA symbols given")
        utt: Utterance = {"symbols": np.array(ids, np.int64)}
        words = self._id_owners(phonemes, owners)
        if len(words) == len(ids):
            utt["word_ids"] = np.array(words, np.int64)
        return utt

    def word_ids(self, text: str, phonemes: list[str]) -> list[int] | None:
        """Each id's word (an index into ``text.split()``, -1 for padding ends, spaces and punctuation)."""
        return self._id_owners(phonemes, self._owners(text, phonemes))

    def _id_owners(self, phonemes: list[str], owner: list[int]) -> list[int]:
        """Per-phoneme word owners spread over the ids (each phoneme's ids and its pad; -1 at the ends)."""
        id_map = self.config.phoneme_id_map
        out = [-1] * (len(id_map[BOS]) + len(id_map[PAD]))
        for p, w in zip(phonemes, owner, strict=True):
            if p in id_map:
                out.extend([w] * (len(id_map[p]) + len(id_map[PAD])))
        out.extend([-1] * len(id_map[EOS]))
        return out

    def _owners(self, text: str, phonemes: list[str]) -> list[int]:
        """Each phoneme's word (an index into ``text.split()``, -1 for spaces and punctuation).

        espeak-ng speaks some words together ("of the") and some as several ("1995"), so its words are
        matched to the text's by length: each text word, phonemized alone, claims espeak's words until
        the running phoneme count catches up with its own. A word left with none has no timestamp.
        """
        groups: list[list[int]] = [[]]  # phoneme indices of each espeak word
        for i, p in enumerate(phonemes):
            if p == " " or p in _PUNCTUATION:  # a clause's terminator may run into the next clause's word
                groups.append([])
            else:
                groups[-1].append(i)
        groups = [g for g in groups if g]
        words = text.split()
        expected = []
        for word in words:
            alone = [
                p
                for s in phonemize(
                    word, self.config.espeak_voice, self.config.vowel_clusters, self.linking_glide
                )
                for p in s
            ]
            expected.append(sum(1 for p in alone if p != " " and p not in _PUNCTUATION))
        owner = [-1] * len(phonemes)
        g = 0
        done = want = 0
        for w, count in enumerate(expected):
            want += count
            while g < len(groups) and (done + len(groups[g]) / 2 <= want or w == len(words) - 1):
                for i in groups[g]:
                    owner[i] = w
                done += len(groups[g])
                g += 1
        return owner
