"""SSML 1.1: a hardened parser that turns a ``<speak>`` document into runs of text, breaks and marks.

A *run* is text that one voice says with one prosody; the document module streams runs one after
another. Parsing uses defusedxml: no DTD, no entity expansion, no external entities. What the
element model honours, per architecture, is tabled in docs/ssml.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from ._errors import FrontendError

__all__ = ["SSMLError", "SSMLDocument", "Prosody", "Run", "Break", "Mark", "Phoneme", "parse_ssml",
           "is_ssml", "say_as", "ipa_to_cmu", "MAX_SSML_CHARS", "BREAK_STRENGTHS"]

MAX_SSML_CHARS = 1_000_000
"""The longest document accepted, in characters: a 2,000-word document is about 15,000."""
MAX_DEPTH = 64
"""The deepest element nesting accepted."""

BREAK_STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.2, "medium": 0.4, "strong": 0.75, "x-strong": 1.2}
"""Seconds of silence for each ``<break strength>`` (SSML leaves the values to the processor)."""
SENTENCE_PAUSE = "medium"
PARAGRAPH_PAUSE = "strong"

_NS = re.compile(r"^\{[^}]*\}")
_REFUSED = {
    "DTDForbidden": "it declares a DTD (<!DOCTYPE ...>), which could define entities or fetch files",
    "EntitiesForbidden": "it declares an entity (<!ENTITY ...>), which could expand without bound",
    "ExternalReferenceForbidden": "it refers to an external resource, which is never fetched",
}
_RATE_WORDS = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.6}
_VOLUME_WORDS = {"silent": -120.0, "x-soft": -12.0, "soft": -6.0, "medium": 0.0, "default": 0.0,
                 "loud": 6.0, "x-loud": 12.0}
_PITCH_WORDS = {"x-low": -6.0, "low": -3.0, "medium": 0.0, "default": 0.0, "high": 3.0, "x-high": 6.0}
# Emphasis as the prosody it is rendered with on every voice: slower and louder, or faster and softer.
_EMPHASIS = {"strong": (0.8, 6.0), "moderate": (0.9, 3.0), "none": (1.0, 0.0), "reduced": (1.1, -4.0)}
_TRANSPARENT = {"speak", "w", "token", "lang", "lexicon", "meta", "metadata", "desc"}
_SKIPPED = {"lexicon", "meta", "metadata", "desc"}


class SSMLError(FrontendError):
    """The SSML document cannot be read: malformed, hostile (DTD, entities), too large or too deep."""


@dataclass(frozen=True)
class Prosody:
    """Rate (a multiplier of speed), volume (dB) and pitch (semitones) in force for a run."""

    rate: float = 1.0
    volume_db: float = 0.0
    pitch_semitones: float = 0.0

    @property
    def neutral(self) -> bool:
        return self.rate == 1.0 and self.volume_db == 0.0 and self.pitch_semitones == 0.0


@dataclass(frozen=True)
class Phoneme:
    """A ``<phoneme>``: the IPA to say, and the written word it stands for (said if IPA cannot be)."""

    ipa: str
    text: str


@dataclass
class Run:
    """Text one voice says with one prosody: plain strings and Phonemes, in order."""

    voice: str | None
    prosody: Prosody
    parts: list[str | Phoneme] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The run's written text (a phoneme's word in its place), whitespace-normalised."""
        return " ".join("".join(p if isinstance(p, str) else p.text for p in self.parts).split())

    @property
    def has_phonemes(self) -> bool:
        return any(isinstance(p, Phoneme) for p in self.parts)

    def word_count(self) -> int:
        return len(self.text.split())


@dataclass(frozen=True)
class Break:
    """Silence of ``seconds``; ``implicit`` for the pause a sentence or paragraph end brings."""

    seconds: float
    implicit: bool = False


@dataclass(frozen=True)
class Mark:
    """A ``<mark name>``: before word ``word`` (an index into ``Run.text.split()``) of run ``run``."""

    name: str
    run: int
    word: int


@dataclass
class SSMLDocument:
    """A parsed document: runs and breaks in speaking order, its marks, and warnings for what is ignored."""

    items: list[Run | Break] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    lang: str | None = None

    @property
    def runs(self) -> list[Run]:
        return [i for i in self.items if isinstance(i, Run)]

    def voices(self) -> list[str | None]:
        """The voice names the runs ask for, in order of first use (None: the document's default)."""
        return list(dict.fromkeys(r.voice for r in self.runs))

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


def is_ssml(text: str) -> bool:
    """True when ``text`` is meant as SSML: it starts with ``<speak``, an XML declaration or a DOCTYPE
    (which ``parse_ssml`` then refuses, rather than the markup being read aloud as text)."""
    return text.lstrip().startswith(("<speak", "<?xml", "<!DOCTYPE"))


def parse_ssml(text: str | bytes, *, max_chars: int = MAX_SSML_CHARS) -> SSMLDocument:
    """Parse an SSML document; SSMLError names the problem (never a traceback into the XML library)."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    if len(text) > max_chars:
        raise SSMLError(f"the SSML document has {len(text):,} characters, more than the limit of "
                        f"{max_chars:,}; split it into several requests")
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        what = _REFUSED.get(type(exc).__name__, "it uses an XML feature SSML does not need")
        raise SSMLError(f"refused the SSML document ({type(exc).__name__}): {what}. SSML needs no DTD and "
                        "no entity declarations; remove the <!DOCTYPE ...> and write characters as they are "
                        "(or as &#NNN; references)") from None
    except ParseError as exc:
        raise SSMLError(f"the SSML document is not well-formed XML: {exc}") from None
    if _local(root.tag) != "speak":
        raise SSMLError(f"an SSML document's root element must be <speak>, not <{_local(root.tag)}>")
    doc = SSMLDocument(lang=_attr(root, "lang"))
    _Walker(doc).walk(root)
    return doc


def _local(tag: Any) -> str:
    return _NS.sub("", tag) if isinstance(tag, str) else ""


def _attr(el: Element, name: str) -> str | None:
    """An attribute by local name, whatever its namespace (``xml:lang`` is ``{...}lang``)."""
    for key, value in el.attrib.items():
        if _NS.sub("", key) == name:
            return value
    return None


class _Walker:
    """Walks the element tree, keeping the voice and prosody in force, and collects runs."""

    def __init__(self, doc: SSMLDocument) -> None:
        self.doc = doc
        self.voice: str | None = None
        self.prosody = Prosody()
        self.current: Run | None = None
        self.pending_marks: list[str] = []

    # -- building runs ---------------------------------------------------------------------------
    def _run(self) -> Run:
        cur = self.current
        if cur is None or cur.voice != self.voice or cur.prosody != self.prosody:
            self.flush()
            cur = self.current = Run(self.voice, self.prosody)
        return cur

    def add_text(self, text: str | None) -> None:
        if not text or not text.strip():
            if text and self.current is not None and self.current.parts:
                self.current.parts.append(" ")
            return
        run = self._run()
        if self.pending_marks:
            self._place_marks(run)
        run.parts.append(text)

    def add_phoneme(self, ph: Phoneme) -> None:
        run = self._run()
        if self.pending_marks:
            self._place_marks(run)
        run.parts.append(ph)

    def _place_marks(self, run: Run) -> None:
        """Marks waiting for text fall before the run's next word; their run index is set at flush."""
        for name in self.pending_marks:
            self.doc.marks.append(Mark(name, -1, run.word_count()))
        self.pending_marks = []

    def flush(self) -> None:
        """End the current run (if it says anything) and resolve the marks placed in it."""
        run, self.current = self.current, None
        if run is None or not run.text:
            return
        if self.pending_marks:  # marks after the run's last word are reached when it ends
            self._place_marks(run)
        self.doc.items.append(run)
        index = len(self.doc.runs) - 1
        self.doc.marks[:] = [replace(m, run=index) if m.run == -1 else m for m in self.doc.marks]

    def pause(self, seconds: float, implicit: bool) -> None:
        self.flush()
        items = self.doc.items
        if items and isinstance(items[-1], Break):
            last = items[-1]
            if implicit and not last.implicit:
                return  # an explicit break already says how long the pause is
            if last.implicit:
                items[-1] = Break(seconds if not implicit else max(seconds, last.seconds), implicit)
                return
            items[-1] = Break(last.seconds + seconds, False)
            return
        if not items:
            if implicit:
                return
        items.append(Break(seconds, implicit))

    # -- the tree --------------------------------------------------------------------------------
    def walk(self, root: Element) -> None:
        self._element(root, 0)
        self.flush()
        if self.pending_marks:  # marks after the last word: at the end of the last run
            runs = self.doc.runs
            for name in self.pending_marks:
                self.doc.marks.append(Mark(name, max(len(runs) - 1, 0), runs[-1].word_count() if runs else 0))
        while self.doc.items and isinstance(self.doc.items[-1], Break) and self.doc.items[-1].implicit:
            self.doc.items.pop()
        if not self.doc.runs:
            raise SSMLError("nothing to say: the SSML document has no text outside its tags")

    def _element(self, el: Element, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise SSMLError(f"the SSML document nests elements more than {MAX_DEPTH} deep")
        tag = _local(el.tag)
        handler = getattr(self, f"_el_{tag.replace('-', '_')}", None)
        if handler is not None:
            handler(el, depth)
        elif tag in _SKIPPED:
            pass
        elif tag in _TRANSPARENT:
            if tag == "lang":
                self.doc.warn("<lang> is ignored: each voice speaks its own language")
            self._children(el, depth)
        else:
            self.doc.warn(f"<{tag}> is not supported and was ignored (its text is spoken)")
            self._children(el, depth)
        self.add_text(el.tail)

    def _children(self, el: Element, depth: int) -> None:
        self.add_text(el.text)
        for child in el:
            self._element(child, depth + 1)

    def _el_speak(self, el: Element, depth: int) -> None:
        self._children(el, depth)

    def _el_p(self, el: Element, depth: int) -> None:
        self.pause(BREAK_STRENGTHS[PARAGRAPH_PAUSE], True)
        self._children(el, depth)
        self.pause(BREAK_STRENGTHS[PARAGRAPH_PAUSE], True)

    def _el_s(self, el: Element, depth: int) -> None:
        self.pause(BREAK_STRENGTHS[SENTENCE_PAUSE], True)
        self._children(el, depth)
        self.pause(BREAK_STRENGTHS[SENTENCE_PAUSE], True)

    def _el_break(self, el: Element, depth: int) -> None:
        time, strength = _attr(el, "time"), _attr(el, "strength")
        if time is not None:
            seconds = _seconds(time, "break time")
        elif strength is not None:
            if strength not in BREAK_STRENGTHS:
                raise SSMLError(f"<break strength={strength!r}>: use one of {', '.join(BREAK_STRENGTHS)}")
            seconds = BREAK_STRENGTHS[strength]
        else:
            seconds = BREAK_STRENGTHS["medium"]
        self.pause(seconds, False)

    def _scoped(self, el: Element, depth: int, voice: str | None, prosody: Prosody) -> None:
        saved = self.voice, self.prosody
        self.voice, self.prosody = voice, prosody
        try:
            self._children(el, depth)
        finally:
            self.voice, self.prosody = saved

    def _el_prosody(self, el: Element, depth: int) -> None:
        p = self.prosody
        rate, volume, pitch = _attr(el, "rate"), _attr(el, "volume"), _attr(el, "pitch")
        for unsupported in ("contour", "range", "duration"):
            if _attr(el, unsupported) is not None:
                self.doc.warn(f"<prosody {unsupported}> is not supported and was ignored")
        new = Prosody(p.rate * (_rate(rate) if rate is not None else 1.0),
                      p.volume_db + (_volume(volume) if volume is not None else 0.0),
                      p.pitch_semitones + (_pitch(pitch) if pitch is not None else 0.0))
        self._scoped(el, depth, self.voice, new)

    def _el_emphasis(self, el: Element, depth: int) -> None:
        level = _attr(el, "level") or "moderate"
        if level not in _EMPHASIS:
            raise SSMLError(f"<emphasis level={level!r}>: use one of {', '.join(_EMPHASIS)}")
        rate, db = _EMPHASIS[level]
        p = self.prosody
        self._scoped(el, depth, self.voice, Prosody(p.rate * rate, p.volume_db + db, p.pitch_semitones))

    def _el_voice(self, el: Element, depth: int) -> None:
        name = _attr(el, "name")
        for other in ("gender", "age", "variant", "languages"):
            if _attr(el, other) is not None and name is None:
                self.doc.warn(f"<voice {other}> is not supported: give <voice name=...>")
        self._scoped(el, depth, name or self.voice, self.prosody)

    def _el_mark(self, el: Element, depth: int) -> None:
        name = _attr(el, "name")
        if not name:
            raise SSMLError("<mark> needs a name attribute")
        self.pending_marks.append(name)
        self.add_text(el.text)

    def _el_sub(self, el: Element, depth: int) -> None:
        alias = _attr(el, "alias")
        if alias is None:
            raise SSMLError("<sub> needs an alias attribute: the text to say instead")
        self.add_text(alias)

    def _el_say_as(self, el: Element, depth: int) -> None:
        how = _attr(el, "interpret-as")
        if not how:
            raise SSMLError("<say-as> needs an interpret-as attribute")
        content = "".join(el.itertext())
        said = say_as(content, how, _attr(el, "format"), warn=self.doc.warn)
        self.add_text(said)

    def _el_phoneme(self, el: Element, depth: int) -> None:
        alphabet, ph = _attr(el, "alphabet") or "ipa", _attr(el, "ph")
        content = " ".join("".join(el.itertext()).split())
        if not ph:
            raise SSMLError("<phoneme> needs a ph attribute")
        if alphabet.lower() != "ipa":
            self.doc.warn(f"<phoneme alphabet={alphabet!r}> is not supported (only ipa): its text is spoken")
            self.add_text(f" {content} ")
            return
        self.add_phoneme(Phoneme(ph, content or ph))

    def _el_audio(self, el: Element, depth: int) -> None:
        self.doc.warn("<audio> is not played (no audio is fetched): its fallback text is spoken")
        self._children(el, depth)


# -- attribute values ----------------------------------------------------------------------------
def _seconds(value: str, what: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s)\s*", value)
    if not m:
        raise SSMLError(f"{what}={value!r}: write a duration such as 500ms or 1.5s")
    seconds = float(m.group(1)) / (1000.0 if m.group(2) == "ms" else 1.0)
    if seconds > 10.0:
        raise SSMLError(f"{what}={value!r} is longer than the 10 s a break may last")
    return seconds


def _number(value: str, what: str, words: dict[str, float], units: tuple[str, ...], lo: float, hi: float,
            hint: str) -> tuple[float, str]:
    """A keyword's value (unit "word") or a number with one of ``units``, checked against [lo, hi]."""
    if value in words:
        return words[value], "word"
    m = re.fullmatch(r"\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(%|dB|st|Hz)?\s*", value)
    if not m or (m.group(2) or "") not in units:
        raise SSMLError(f"{what}={value!r}: give {hint}")
    number, unit = float(m.group(1)), m.group(2) or ""
    if unit == "%" and what.endswith("rate"):
        number = 1 + number / 100 if value.strip()[0] in "+-" else number / 100  # +20% is relative
        unit = ""
    if not lo <= number <= hi:
        raise SSMLError(f"{what}={value!r} is outside the range this processor takes ({hint})")
    return number, unit


def _rate(value: str) -> float:
    return _number(value, "prosody rate", _RATE_WORDS, ("", "%"), 0.25, 4.0,
                   "a percentage from 25% to 400%, a multiplier (1.2) or x-slow..x-fast")[0]


def _volume(value: str) -> float:
    return _number(value, "prosody volume", _VOLUME_WORDS, ("dB",), -120, 24,
                   "decibels from -120dB to +24dB, or silent..x-loud")[0]


def _pitch(value: str) -> float:
    number, unit = _number(value, "prosody pitch", _PITCH_WORDS, ("st", "%"), -100, 100,
                           "semitones within an octave (+2st), a percentage (+10%) or x-low..x-high; "
                           "Hz values are not supported")
    semitones = 12 * math.log2(max(1e-3, 1 + number / 100)) if unit == "%" else number
    if not -12 <= semitones <= 12:
        raise SSMLError(f"prosody pitch={value!r} is outside one octave either way")
    return semitones


# -- say-as ----------------------------------------------------------------------------------------
_LETTERS = dict(zip("abcdefghijklmnopqrstuvwxyz", (
    "ay bee see dee ee eff gee aitch eye jay kay el em en oh pee cue ar ess tee you vee "
    "double-you ex why zee").split(), strict=True))
_DIGITS = "zero one two three four five six seven eight nine".split()
_ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
                  "nine": "ninth", "twelve": "twelfth"}
_MONTHS = ("January February March April May June July August September October November "
           "December").split()


def number_to_words(n: int) -> str:
    """The front ends' English number words, imported on first use (``_frontends`` loads torch)."""
    from ._frontends import number_to_words as words

    return words(n)


def _ordinal(n: int) -> str:
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _cardinal(text: str) -> str:
    m = re.fullmatch(r"([+-]?)(\d[\d,]*)(?:\.(\d+))?", text.strip())
    if not m:
        raise ValueError
    words = number_to_words(int(m.group(2).replace(",", "")))
    if m.group(3):
        words += " point " + " ".join(_DIGITS[int(d)] for d in m.group(3))
    return ("minus " if m.group(1) == "-" else "") + words


def _year(y: int) -> str:
    if y < 1000 or 2000 <= y < 2010 or y >= 10000:
        return number_to_words(y)
    high, low = divmod(y, 100)
    if low == 0:
        return f"{number_to_words(high)} hundred"
    return f"{number_to_words(high)} {'oh ' + _DIGITS[low] if low < 10 else number_to_words(low)}"


def _date(text: str, fmt: str | None) -> str:
    fields = [f for f in re.split(r"[-/.\s]+", text.strip()) if f]
    if not fields or not all(f.isdigit() for f in fields):
        raise ValueError
    order = fmt or ("ymd" if len(fields[0]) == 4 else "mdy")
    if len(order) != len(fields) or set(order) - set("ymd"):
        raise ValueError
    parts = dict(zip(order, (int(f) for f in fields), strict=True))
    said = []
    if "m" in parts:
        if not 1 <= parts["m"] <= 12:
            raise ValueError
        said.append(_MONTHS[parts["m"] - 1])
    if "d" in parts:
        if not 1 <= parts["d"] <= 31:
            raise ValueError
        said.append(_ordinal(parts["d"]) if "m" in parts else f"the {_ordinal(parts['d'])}")
    if "y" in parts:
        said.append(_year(parts["y"]))
    return " ".join(said)


def _time(text: str, fmt: str | None) -> str:
    m = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?(?::(\d{2}))?\s*([ap]\.?m\.?)?", text.strip(), re.IGNORECASE)
    if not m:
        raise ValueError
    hour, minute = int(m.group(1)), int(m.group(2) or 0)
    if hour > 23 or minute > 59:
        raise ValueError
    suffix = m.group(4)
    if suffix is None and fmt == "hms12":
        suffix = "pm" if hour >= 12 else "am"
        hour = hour % 12 or 12
    words = number_to_words(hour)
    if minute:
        words += f" {'oh ' + _DIGITS[minute] if minute < 10 else number_to_words(minute)}"
    elif suffix is None:
        words += " hundred" if hour >= 10 or hour == 0 else " o'clock"
    if m.group(3) and int(m.group(3)):
        words += f" and {number_to_words(int(m.group(3)))} seconds"
    if suffix:
        words += " a m" if suffix.lower().startswith("a") else " p m"
    return words


def _telephone(text: str) -> str:
    groups = [g for g in re.split(r"[^\d+]+", text.strip()) if g]
    if not groups or sum(len(g.strip("+")) for g in groups) < 3:
        raise ValueError
    said = []
    for g in groups:
        words = (["plus"] if g.startswith("+") else []) + [_DIGITS[int(d)] for d in g if d.isdigit()]
        said.append(" ".join(words))
    return ", ".join(said)


def _characters(text: str) -> str:
    out = []
    for ch in text:
        low = ch.lower()
        if low in _LETTERS:
            out.append(_LETTERS[low])
        elif ch.isdigit():
            out.append(_DIGITS[int(ch)])
        elif not ch.isspace():
            out.append(ch)
    return " ".join(out)


def say_as(text: str, interpret_as: str, fmt: str | None = None, *, warn: Any = None) -> str:
    """The words ``<say-as interpret-as=... format=...>`` stands for, in English.

    Text that does not fit the type is said as written, with a warning (through ``warn``).
    """
    how = interpret_as.lower()
    try:
        if how in ("characters", "spell-out", "letters", "verbatim"):
            return _characters(text)
        if how in ("cardinal", "number"):
            return _cardinal(text)
        if how == "ordinal":
            return _ordinal(int(re.sub(r"(st|nd|rd|th)$", "", text.strip().replace(",", ""))))
        if how == "digits":
            digits = re.sub(r"\s+", "", text)
            if not digits.isdigit():
                raise ValueError
            return " ".join(_DIGITS[int(d)] for d in digits)
        if how == "date":
            return _date(text, fmt)
        if how == "time":
            return _time(text, fmt)
        if how == "telephone":
            return _telephone(text)
    except (ValueError, IndexError):
        if warn is not None:
            warn(f"<say-as interpret-as={how!r}> could not read {text.strip()[:40]!r}: said as written")
        return text
    if warn is not None:
        warn(f"<say-as interpret-as={how!r}> is not supported: the text is said as written")
    return text


# -- IPA to the CMU phones en-rms speaks -----------------------------------------------------------
_IPA_CMU = {
    "tʃ": "ch", "t͡ʃ": "ch", "dʒ": "jh", "d͡ʒ": "jh", "eɪ": "ey", "aɪ": "ay", "ɔɪ": "oy", "aʊ": "aw",
    "oʊ": "ow", "əʊ": "ow", "ɝ": "er", "ɚ": "er", "ɜr": "er", "ɜ": "er", "ər": "er",
    "i": "iy", "ɪ": "ih", "e": "ey", "ɛ": "eh", "æ": "ae", "a": "aa", "ɑ": "aa", "ɒ": "aa", "ɔ": "ao",
    "o": "ow", "ʊ": "uh", "u": "uw", "ʌ": "ah", "ə": "ax", "ɐ": "ah", "ᵻ": "ih", "ɨ": "ih",
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "g", "ɡ": "g", "f": "f", "v": "v",
    "θ": "th", "ð": "dh", "s": "s", "z": "z", "ʃ": "sh", "ʒ": "zh", "h": "hh", "m": "m", "n": "n",
    "ŋ": "ng", "l": "l", "ɫ": "l", "r": "r", "ɹ": "r", "ɾ": "t", "w": "w", "j": "y", "ʔ": "t",
}
_IPA_IGNORED = set("ˈˌːˑ.‿̩ ̃-")
_IPA_LONGEST = max(len(k) for k in _IPA_CMU)


def ipa_to_cmu(ipa: str) -> tuple[list[str], list[str]]:
    """The CMU phones for an IPA string (longest match first; stress and length marks dropped), and the
    symbols that have no CMU phone."""
    phones: list[str] = []
    unmapped: list[str] = []
    i = 0
    while i < len(ipa):
        for size in range(_IPA_LONGEST, 0, -1):
            piece = ipa[i:i + size]
            if piece in _IPA_CMU:
                phones.append(_IPA_CMU[piece])
                i += size
                break
        else:
            ch = ipa[i]
            if ch not in _IPA_IGNORED and not ch.isspace():
                unmapped.append(ch)
            i += 1
    return phones, unmapped


def runs_text(doc: SSMLDocument) -> Iterator[str]:
    """Each run's text: what a plain-text reader of the document would hear."""
    for run in doc.runs:
        yield run.text
