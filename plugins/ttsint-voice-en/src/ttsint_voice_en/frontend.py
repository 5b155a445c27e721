"""Text to CMU phones with Flite's lexicon and letter-to-sound rules: the phones the voice was trained on.

Flite's library runs in this process (ctypes) and stops after its post-lexical rules, so no speech is
synthesized: about a millisecond a sentence, where ``flite -ps`` spent ~0.3 s making audio it threw away.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import functools
import json
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import ttsint
from ttsint import ConfigError, FrontendError, ParameterError, Utterance, normalize_text

__all__ = ["FlitePhones", "FliteLibrary", "flite_library", "text_to_phones", "text_to_phone_words"]

FLITE_VOICE = "rms"
# Debian's sonames (package libflite1); elsewhere the dynamic loader is asked by library name.
LIBRARY_FILE = "lib{}.so.1"
INSTALL_HINT = "run `apt-get install flite` (or `bash setup.sh`, which does it)"
VOICE_HINT = f"en-rms was trained on Flite's {FLITE_VOICE!r} voice; `flite -lv` lists the installed ones"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Flite does not promise thread safety, and every voice shares libflite: one utterance at a time.
_FLITE_LOCK = threading.Lock()


def clean_text(text: str) -> str:
    """What flite is given: ASCII-normalised text on one line, control characters turned into spaces."""
    text = _CONTROL.sub(" ", normalize_text(text, lowercase=False, expand_numbers=False))
    return " ".join(text.split())


def _open_library(name: str) -> ctypes.CDLL:
    """``lib<name>`` by Debian's soname, else wherever the dynamic loader finds it; OSError says why not."""
    errors = []
    try:
        return ctypes.CDLL(LIBRARY_FILE.format(name))
    except OSError as exc:
        errors.append(str(exc))
    # find_library runs `ldconfig -p` in a subprocess (~15 ms of a cold start): asked only when that fails
    found = ctypes.util.find_library(name)
    if found:
        try:
            return ctypes.CDLL(found)
        except OSError as exc:
            errors.append(str(exc))
    raise OSError("; ".join(dict.fromkeys(errors)) or f"lib{name} was not found")


class _SynthModule(ctypes.Structure):
    """Flite's ``cst_synth_module``: a hook's feature name and the function run when the voice sets none."""

    _fields_ = [("hookname", ctypes.c_char_p), ("defhook", ctypes.c_void_p)]


class FliteLibrary:
    """libflite and one of its compiled-in voices; ``segments`` runs text analysis as far as the phones."""

    def __init__(self, voice: str = FLITE_VOICE) -> None:
        if not re.fullmatch(r"[a-z0-9_]+", voice):
            raise ConfigError("frontend.voice", f"{voice!r} is not a Flite voice name", hint=VOICE_HINT)
        try:
            lib = _open_library("flite")
        except OSError as exc:
            raise FrontendError(f"this voice's front end needs Flite's library, which is missing or broken "
                                f"({exc}): {INSTALL_HINT}") from None
        try:
            voice_lib = _open_library(f"flite_cmu_us_{voice}")
        except OSError as exc:
            message = f"Flite has no voice {voice!r} ({exc})"
            raise ConfigError("frontend.voice", message, hint=VOICE_HINT) from None
        try:
            register = getattr(voice_lib, f"register_cmu_us_{voice}")
            self._declare(lib)
        except AttributeError as exc:
            raise FrontendError(f"Flite's library is not the one this front end was written for ({exc}): "
                                f"{INSTALL_HINT}") from None
        register.restype, register.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
        lib.flite_init()
        self._voice = register(None)
        if not self._voice:
            raise FrontendError(f"Flite could not load its voice {voice!r}: {INSTALL_HINT}")
        self._lib = lib
        # Flite's text2segs method stops after pause insertion, before the post-lexical rules ("the"
        # before a vowel, the 's suffix) that also change phones: those are applied as one more module.
        self._postlex = _SynthModule(b"postlex_func", None)

    @staticmethod
    def _declare(lib: ctypes.CDLL) -> None:
        ptr, text = ctypes.c_void_p, ctypes.c_char_p
        for name, restype, argtypes in (
            ("flite_init", ctypes.c_int, []),
            ("new_utterance", ptr, []),
            ("utt_set_input_text", None, [ptr, text]),
            ("utt_init", ptr, [ptr, ptr]),
            ("apply_synth_module", ptr, [ptr, ptr]),
            ("utt_relation", ptr, [ptr, text]),
            ("relation_head", ptr, [ptr]),
            ("item_next", ptr, [ptr]),
            ("item_feat_string", text, [ptr, text]),
            ("item_feat_present", ctypes.c_int, [ptr, text]),
            ("item_feat_int", ctypes.c_int, [ptr, text]),
            ("path_to_item", ptr, [ptr, text]),
            ("delete_utterance", None, [ptr]),
            ("utt_synth_text2segs", ptr, [ptr]),
        ):
            func = getattr(lib, name)
            func.restype, func.argtypes = restype, argtypes

    def phones(self, text: str) -> list[str]:
        """The segments (phones and "pau") Flite's voice would speak for ``text``, as one utterance."""
        return [name for name, _ in self.segments(text)]

    def segments(self, text: str) -> list[tuple[str, int]]:
        """Each segment of ``text`` (as ``phones``) with the UTF-8 byte offset in ``text`` of the last
        character of the token it belongs to, or -1 for a pause: what ties a phone to its written word."""
        lib = self._lib
        data = text.encode("utf-8", "replace")
        with _FLITE_LOCK:
            utt = lib.new_utterance()
            try:
                lib.utt_set_input_text(utt, data)
                lib.utt_init(utt, self._voice)
                postlex = ctypes.byref(self._postlex)
                if not (lib.utt_synth_text2segs(utt) and lib.apply_synth_module(utt, postlex)):
                    raise FrontendError(f"Flite could not analyse {text[:60]!r}")
                segments = []
                seg = lib.relation_head(lib.utt_relation(utt, b"Segment"))
                while seg:
                    # A phone's syllable's word, then the text token that word was said for; pauses have none.
                    token = lib.path_to_item(seg, b"R:SylStructure.parent.parent.R:Token.parent")
                    end = -1
                    if token and lib.item_feat_present(token, b"file_pos"):
                        # Flite's position is one past the character read after the token (the space
                        # that ends it), or the end of the text.
                        after = lib.item_feat_int(token, b"file_pos")
                        end = len(data) - 1 if after >= len(data) else after - 2
                    segments.append((lib.item_feat_string(seg, b"name").decode("ascii"), end))
                    seg = lib.item_next(seg)
            finally:
                lib.delete_utterance(utt)
        return segments


@functools.cache
def flite_library(voice: str = FLITE_VOICE) -> FliteLibrary:
    """The process's FliteLibrary for ``voice``, opened on first use (a failure is not cached)."""
    return FliteLibrary(voice)


def text_to_phones(text: str, voice: str = FLITE_VOICE) -> list[str]:
    """The phones Flite's ``voice`` speaks for ``text``, without synthesizing it; pauses are "pau"."""
    return text_to_phone_words(text, voice)[0]


def text_to_phone_words(text: str, voice: str = FLITE_VOICE) -> tuple[list[str], list[int] | None]:
    """The phones of ``text`` (as ``text_to_phones``) and each one's word, an index into ``text.split()``
    (-1 for pauses); None instead of the words if cleaning the words one by one changed the text."""
    cleaned = clean_text(text)
    if not re.search(r"[A-Za-z0-9]", cleaned):
        raise FrontendError(f"nothing to say: {text[:60]!r} has no letters or digits")
    segments = flite_library(voice).segments(cleaned)
    phones = [name for name, _ in segments]
    starts, owners = _cleaned_words(text, cleaned)
    if not starts:
        return phones, None
    return phones, [owners[bisect.bisect_right(starts, end) - 1] if end >= 0 else -1 for _, end in segments]


def _cleaned_words(text: str, cleaned: str) -> tuple[list[int], list[int]]:
    """Where each word of ``cleaned`` starts (UTF-8 bytes) and which word of ``text.split()`` it came from,
    by cleaning word by word; ([], []) if that does not rebuild ``cleaned`` exactly."""
    starts: list[int] = []
    owners: list[int] = []
    pieces: list[str] = []
    pos = 0
    for w, word in enumerate(text.split()):
        # Printable ASCII comes out of cleaning unchanged; a dash between two words becomes a word of its own.
        for piece in [word] if word.isascii() and word.isprintable() else clean_text(word).split():
            starts.append(pos)
            owners.append(w)
            pieces.append(piece)
            pos += len(piece.encode("utf-8", "replace")) + 1
    return (starts, owners) if " ".join(pieces) == cleaned else ([], [])


class FlitePhones(ttsint.Frontend):
    """Phonemizes with flite and maps phones onto the addon's inventory (``symbols`` or ``symbols_file``).

    It returns numpy int64 arrays ("symbols", and "word_ids" when known); blocks that take torch tensors
    get them converted by their container.
    """

    type_name = "flite-phones"

    def __init__(self, symbols: list[str] | None = None, symbols_file: str | Path | None = None,
                 voice: str = FLITE_VOICE) -> None:
        if (symbols is None) == (symbols_file is None):
            raise ParameterError("symbols",
                                 "give exactly one of symbols (a list) or symbols_file (a JSON list)")
        if symbols_file is not None:
            try:
                symbols = json.loads(Path(symbols_file).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ParameterError("symbols_file", f"{str(symbols_file)!r} is not a readable JSON list: "
                                     f"{exc}") from None
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise ParameterError("symbols", f"must be a list of phone names, got {type(symbols).__name__}")
        self.symbols = list(symbols)
        self.voice = voice
        self._ids = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def from_config(cls, params: dict[str, Any], addon: ttsint.Addon | None) -> FlitePhones:
        params = dict(params)
        if "symbols_file" in params and addon is not None:
            params["symbols_file"] = addon.file(params["symbols_file"], "frontend.symbols_file")
        return cls(**params)

    def analyse(self, text: str) -> tuple[list[str], list[int] | None]:
        """The phones for ``text`` before they are mapped to ids, and each one's word index (None when not
        known); a subclass may derive them another way."""
        return text_to_phone_words(text, self.voice)

    def phones(self, text: str) -> list[str]:
        """The phones for ``text`` before they are mapped to ids."""
        return self.analyse(text)[0]

    def __call__(self, text: str) -> Utterance:
        phones, word_ids = self.analyse(text)
        unknown = sorted({p for p in phones if p not in self._ids})
        if unknown:
            raise FrontendError(f"flite produced phones this voice does not know: {unknown}")
        if not any(p != "pau" for p in phones):
            raise FrontendError(f"nothing to say: flite found no speech sounds in {text[:60]!r}")
        utt: Utterance = {"symbols": np.array([self._ids[p] for p in phones], dtype=np.int64)}
        if word_ids is not None:
            utt["word_ids"] = np.array(word_ids, dtype=np.int64)
        return utt
