"""espeak-ng in this process (ctypes): text to IPA clauses, each with its terminator, as piper-tts sees them.

The library and its data come from the ``espeakng-loader`` wheel (espeak-ng 1.52.0, GPL-3.0). Debian's
1.51 was measured against piper-tts 1.8.0 on tests/piper/corpus.txt and gave different phonemes on 317
of 530 lines; 1.52.0 differs only by the linking glide, which ``linking_glide`` reproduces (see
``_glides``). Its public API has no clause terminator (piper-tts's bundled copy adds one), so the
terminator is read from the text that each call consumed.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from dataclasses import dataclass

from ttsint import FrontendError

__all__ = ["Clause", "EspeakLibrary", "espeak_library"]

INSTALL_HINT = "run `pip install espeakng-loader` (a dependency of ttsint-piper, which bundles espeak-ng)"
_AUDIO_OUTPUT_SYNCHRONOUS = 0x02
_CHARS_AUTO = 0  # what piper-tts passes
_PHONEMES_IPA = 0x02
_SEP = "|"
_PHONEMES_SEP = ord(_SEP) << 8
_TERMINATORS = ".?!,:;"
_SENTENCE_ENDS = ".?!"
# espeak-ng's lock: its translator is one global state, shared by every voice in the process.
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Clause:
    """One clause as espeak-ng reads it: IPA, the punctuation that ended it ("" if none), sentence end."""

    phonemes: str
    terminator: str
    sentence_end: bool


class EspeakLibrary:
    """libespeak-ng opened from the espeakng-loader wheel; ``clauses`` phonemizes with one of its voices."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise FrontendError(f"the Piper front end needs espeak-ng: {INSTALL_HINT}") from None
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
            data = espeakng_loader.get_data_path()
        except (OSError, RuntimeError) as exc:
            raise FrontendError(f"espeak-ng could not be loaded ({exc}): {INSTALL_HINT}") from None
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), 0) < 0:
            raise FrontendError(f"espeak-ng failed to start with its data at {data}: {INSTALL_HINT}")
        self._lib = lib
        self._voice: str | None = None

    def clauses(self, text: str, voice: str, linking_glide: bool = True) -> list[Clause]:
        """The clauses of ``text`` in espeak-ng ``voice`` ("en-us"), as piper-tts 1.8's bridge gives them."""
        data = text.encode("utf-8")
        with _LOCK:
            self._set_voice(voice)
            ipa = self._run(data, _PHONEMES_IPA | _PHONEMES_SEP)
            names = self._run(data, _PHONEMES_SEP) if linking_glide else None
        clauses = []
        for k, (phonemes, start, end, last) in enumerate(ipa):
            if names is not None:
                phonemes = _glides(phonemes, names[k][0])
            terminator, sentence_end = _terminator(data[start:end].decode("utf-8", "replace"), last)
            clauses.append(Clause(phonemes.replace(_SEP, ""), terminator, sentence_end))
        return clauses

    def _set_voice(self, voice: str) -> None:
        if voice != self._voice:
            if self._lib.espeak_SetVoiceByName(voice.encode("utf-8")) != 0:
                raise FrontendError(
                    f"espeak-ng has no voice {voice!r}; the voice's .onnx.json names it in "
                    "espeak.voice (`espeak-ng --voices` lists them)"
                )
            self._voice = voice

    def _run(self, data: bytes, mode: int) -> list[tuple[str, int, int, bool]]:
        """(phonemes, start, end, last) per clause: what one espeak_TextToPhonemes call read and returned."""
        buffer = ctypes.create_string_buffer(data)
        base = ctypes.addressof(buffer)
        pointer = ctypes.c_void_p(base)
        out = []
        while pointer.value:
            start = pointer.value - base
            result = self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_AUTO, mode)
            last = not pointer.value
            end = len(data) if last else pointer.value - base
            out.append(((result or b"").decode("utf-8", "replace"), start, end, last))
        return out


def _glides(ipa: str, names: str) -> str:
    """Write espeak's linking phoneme (``;``, silent in 1.52.0's IPA) as ``ʲ``, as piper-tts's build does.

    Both strings separate phonemes with ``|`` and words with spaces, so they align token by token; a
    word whose tokens do not align is left unchanged.
    """
    ipa_words, name_words = ipa.split(" "), names.split(" ")
    # espeak-ng keeps a little state between calls (a "dot" said for a stray full stop), so the two runs may
    # differ by a leading word: align from the end.
    shift = len(name_words) - len(ipa_words)
    out = []
    for i, ipa_word in enumerate(ipa_words):
        j = i + shift
        ipa_tokens = ipa_word.split(_SEP)
        name_tokens = name_words[j].split(_SEP) if 0 <= j < len(name_words) else []
        if len(ipa_tokens) == len(name_tokens):
            ipa_word = _SEP.join(
                "ʲ" if name == ";" and not tok else tok
                for tok, name in zip(ipa_tokens, name_tokens, strict=True)
            )
        out.append(ipa_word)
    return " ".join(out)


def _terminator(consumed: str, last: bool) -> tuple[str, bool]:
    """The punctuation that ended a clause and whether it ended a sentence, from the text espeak-ng
    consumed for it (what piper-tts's bridge reads from espeak-ng's clause flags).

    espeak-ng reads one character past a clause's end before it stops, so that character is dropped
    unless the clause is the text's last; the end of the text ends a sentence.
    """
    body = (consumed if last else consumed[:-1]).rstrip()
    # Closing quotes and brackets may follow the punctuation that ends the clause.
    body = body.rstrip("\"'\u201d\u2019)]}")
    run = len(body) - len(body.rstrip(_TERMINATORS))
    marks = body[len(body) - run :]
    if marks.startswith("..."):  # an ellipsis: a pause, neither a terminator nor a sentence end
        return "", False
    if not marks:
        # A dash between words ends a clause the way a semicolon does.
        return (";", False) if body.endswith(("\u2014", "\u2013")) else ("", last)
    return marks[0], marks[0] in _SENTENCE_ENDS


@functools.cache
def espeak_library() -> EspeakLibrary:
    """The process's espeak-ng, started on first use (a failure is not cached)."""
    return EspeakLibrary()
