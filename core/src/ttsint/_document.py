"""Document: speaks an SSML (or plain) document with several voices as one stream at one sample rate.

Each run of the document (text one voice says with one prosody) streams through its voice's
``SpeechStream``; while run k plays, a background thread loads run k+1's voice if needed and
readies its first chunk, whatever its architecture. Every sentence is resampled in the stream
(soxr) to the document's rate, its level is matched to the first voice's (EBU R128 loudness of a
calibration sentence per voice), and its edges are faded so that joins never click.
"""

from __future__ import annotations

import copy
import json
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._arrays import is_torch, to_numpy
from ._blocks import StreamableBlock, find, last_of_kind, replace
from ._data import Chunk, Utterance
from ._errors import ConfigError, FrontendError
from ._speech import SegmentInfo, SpeechStream
from ._ssml import Break, Phoneme, Prosody, Run, SSMLDocument, SSMLError, ipa_to_cmu, is_ssml, parse_ssml
from ._voice import Voice

__all__ = ["Document", "DocumentStream", "MelPitch", "speak_to", "time_stretch", "CALIBRATION_TEXT",
           "FADE_SECONDS"]

CALIBRATION_TEXT = ("The quick brown fox jumps over the lazy dog, and then it runs back home "
                    "across the green field.")
"""What each voice says once, off the stream, to measure its loudness."""
FADE_SECONDS = 0.005
"""Each sentence fades in and out over this long; a join without silence crossfades over it."""
MAX_GAIN_DB = 20.0
"""Loudness matching never changes a voice's level by more than this."""
PITCH_KEY = "ssml_pitch"
"""The utterance key (semitones, a 0-d array) that MelPitch reads."""
_NEUTRAL = Prosody()


def time_stretch(x: np.ndarray, rate: float, sample_rate: int) -> np.ndarray:
    """``x`` spoken ``rate`` times as fast, at the same pitch (WSOLA: 30 ms Hann frames, 10 ms search)."""
    if rate == 1.0 or len(x) == 0:
        return x
    win = 2 * int(0.015 * sample_rate)
    hop = win // 2
    tol = int(0.010 * sample_rate)
    window = np.hanning(win + 1)[:win].astype(np.float32)  # periodic: halves overlap-add to one
    pad = win + 2 * tol
    xp = np.concatenate([np.zeros(pad, np.float32), x.astype(np.float32), np.zeros(pad + win, np.float32)])
    n_out = int(round(len(x) / rate))
    frames = n_out // hop + 2
    out = np.zeros(frames * hop + win, np.float32)
    prev = pad
    for k in range(frames):
        nominal = pad + int(round(k * hop * rate))
        if k == 0:
            pos = nominal
        else:
            template = xp[prev + hop:prev + hop + win]
            lo = max(nominal - tol, 0)
            region = xp[lo:nominal + tol + win]
            if len(region) < win:
                break
            pos = lo + int(np.argmax(np.correlate(region, template, "valid")))
        out[k * hop:k * hop + win] += window * xp[pos:pos + win]
        prev = pos
    return out[hop:hop + n_out] if n_out > 0 else out[:0]


class MelPitch(StreamableBlock):
    """Shifts log-mel frames up or down in frequency by the utterance's ``ssml_pitch`` semitones.

    Inserted before a voice's vocoder by Document, so ``<prosody pitch>`` works on voices that make
    mel frames; it moves pitch and formants together. Without the key it passes chunks through.
    """

    consumes = "mel"
    arrays = "any"  # shifts frames of either kind, in their kind: no conversion around it

    def __init__(self, n_mels: int, fmin: float, fmax: float) -> None:
        self.n_mels, self.fmin, self.fmax = int(n_mels), float(fmin), float(fmax)

    def _positions(self, semitones: float) -> np.ndarray:
        """For each output bin, where (as a fractional input bin) its content comes from."""
        def mel(f: Any) -> Any:
            return 2595.0 * np.log10(1.0 + f / 700.0)
        lo, hi = mel(np.float32(self.fmin)), mel(np.float32(self.fmax))  # float32, the step too
        centers = np.linspace(float(lo), float(hi), self.n_mels + 2, dtype=np.float64)[1:-1]
        hz = 700.0 * (10 ** (centers / 2595.0) - 1.0)
        source = mel(hz / 2 ** (semitones / 12.0))
        step = (hi - lo) / np.float32(self.n_mels + 1)
        return np.clip((source - lo) / step - 1.0, 0, self.n_mels - 1).astype(np.float32)

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is None:
            raise FrontendError("MelPitch shifts mel frames from the block before it; it cannot come first")
        shift = utt.get(PITCH_KEY)
        semitones = float(shift) if shift is not None else 0.0
        if semitones == 0.0:
            yield from upstream
            return
        pos = self._positions(semitones)
        low = np.floor(pos).astype(np.int64)
        high = np.minimum(low + 1, self.n_mels - 1)
        frac = pos - low.astype(np.float32)
        as_torch: tuple[Any, Any, Any] | None = None
        for chunk in upstream:
            f = chunk.frames
            if is_torch(f):
                if as_torch is None or as_torch[2].device != f.device:
                    import torch

                    as_torch = (torch.from_numpy(low), torch.from_numpy(high),
                                torch.from_numpy(frac).to(f.device))
                lo_i, hi_i, fr = as_torch
                shifted = f[:, lo_i] * (1 - fr) + f[:, hi_i] * fr
            else:
                shifted = f[:, low] * (1 - frac) + f[:, high] * frac
            yield Chunk(shifted, chunk.start)


def _with_pitch(voice: Voice) -> bool:
    """Put MelPitch after the block that hands the last mel on to a vocoder; False if there is no place."""
    block = voice.block
    if find(block, MelPitch) is not None:
        return True
    mel = last_of_kind(block, "mel")
    if mel is None or mel.path == "" or not mel.label.endswith("]"):
        return False  # no mel, only mel, or a mel made where one block fits, not a list of them
    a = voice.addon
    fmax = getattr(a, "fmax", None) or a.sample_rate / 2
    pitch = MelPitch(a.n_mels, getattr(a, "fmin", 0.0) or 0.0, fmax)
    voice.block = replace(block, mel.path, mel.block, pitch)  # type: ignore[assignment]
    return True


@dataclass
class _VoiceState:
    """A voice the document speaks with, and what it can do."""

    name: str
    voice: Voice
    pitch: bool
    ipa: str | None
    """How it takes <phoneme>: "frontend" (its front end has encode_parts), "cmu" (mapped), or None."""
    lufs: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sample_rate(self) -> int:
        return int(self.voice.addon.sample_rate)

    def loudness(self) -> float:
        """The integrated loudness (LUFS) of the calibration sentence, measured once."""
        with self.lock:
            if self.lufs is None:
                import pyloudnorm

                audio = to_numpy(self.voice.synthesize(CALIBRATION_TEXT)).reshape(-1).astype(np.float64)
                value = pyloudnorm.Meter(self.sample_rate).integrated_loudness(audio)
                self.lufs = float(value) if math.isfinite(value) else -70.0
            return self.lufs


def _ipa_mode(voice: Voice) -> str | None:
    frontend = voice.addon.frontend
    if callable(getattr(frontend, "encode_parts", None)):
        return "frontend"
    symbols = set(getattr(frontend, "symbols", []) or [])
    if {"pau", "aa", "iy", "hh"} <= symbols:
        return "cmu"
    return None


class Document:
    """Owns the voices an SSML document may name and streams documents with them at one sample rate.

    ``voices`` gives ready voices by name; other names are loaded on first use from the installed
    addons (only registered names: a document cannot name a path), unless ``allowed`` lists the
    names it may use. ``default`` speaks text outside any ``<voice>``.
    """

    def __init__(self, voices: Mapping[str, Voice] | None = None, *, default: str | None = None,
                 allowed: list[str] | None = None,
                 loader: Callable[[str], Voice] | None = None) -> None:
        self._given = dict(voices or {})
        self._states: dict[str, _VoiceState] = {}
        self._owned: list[Voice] = []
        self._lock = threading.Lock()
        self.allowed = allowed
        self._loader = loader or (lambda name: Voice.load(name))
        if default is None:
            if self._given:
                default = next(iter(self._given))
            else:
                from ._addon import default_addon
                default = default_addon()
        self.default = default

    def close(self) -> None:
        """Close the voices this document loaded (not those it was given)."""
        for voice in self._owned:
            voice.close()
        self._owned.clear()

    def __enter__(self) -> Document:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _names(self) -> list[str]:
        if self.allowed is not None:
            return list(self.allowed)
        from ._registry import get_registry
        return sorted(set(self._given) | set(get_registry().addons))

    def check(self, name: str | None) -> None:
        """SSMLError unless ``name`` (None: the default) is a voice this Document may use; loads nothing."""
        name = name or self.default
        if name not in self._states and name not in self._given and name not in self._names():
            raise SSMLError(f"<voice name={name!r}>: no such voice here; the voices are "
                            f"{', '.join(self._names()) or 'none'} (ttsint addons lists the installed ones)")

    def state(self, name: str | None) -> _VoiceState:
        """The voice called ``name`` (the default for None), loaded on first use."""
        name = name or self.default
        with self._lock:
            found = self._states.get(name)
            if found is not None:
                return found
            voice = self._given.get(name)
            if voice is not None:  # MelPitch goes into a copy: the caller's Voice stays as it was given
                voice = copy.copy(voice)
            else:
                self.check(name)
                voice = self._loader(name)
                self._owned.append(voice)
            if voice.output_kind != "waveform":
                raise SSMLError(f"voice {name!r} makes {voice.output_kind or 'frames'}, not audio, so it "
                                "cannot speak in a document; give it a vocoder (--set stack.1.type=PGHI)")
            found = self._states[name] = _VoiceState(name, voice, _with_pitch(voice), _ipa_mode(voice))
            return found

    def stream(self, text: str, *, sample_rate: int | None = None, voice: str | None = None,
               lookahead: bool = True) -> DocumentStream:
        """Stream ``text`` (SSML when it starts with ``<speak``, else plain text) at ``sample_rate``;
        ``voice`` speaks what no ``<voice>`` covers (default: the Document's default). ``lookahead``: see
        DocumentStream."""
        doc = parse_ssml(text) if is_ssml(text) else SSMLDocument(items=[Run(None, _NEUTRAL, [text])])
        if voice is not None:
            for run in doc.runs:
                run.voice = run.voice or voice
        return DocumentStream(self, doc, sample_rate, lookahead=lookahead)

    def speak(self, text: str, *, sample_rate: int | None = None) -> tuple[np.ndarray, DocumentStream]:
        """The whole document as one float32 array, and the finished stream (its events and warnings)."""
        stream = self.stream(text, sample_rate=sample_rate)
        with stream:
            audio = np.concatenate([np.zeros(0, np.float32), *stream])
        return audio, stream




@dataclass
class _Prepared:
    """A run made ready to play: its voice, its speech stream and the stream's first chunk."""

    run: Run
    index: int
    state: _VoiceState
    speech: SpeechStream
    first: Chunk | None


class _Joiner:
    """Fades each sentence in and out and joins them with silence or a crossfade; counts output samples."""

    def __init__(self, fade: int) -> None:
        self.fade = max(int(fade), 1)
        self.emitted = 0
        self.tail = np.zeros(0, np.float32)
        self.hold = np.zeros(0, np.float32)
        self.head: list[np.ndarray] | None = None
        self.gap = 0
        self.joins: list[int] = []

    def begin(self, gap: int) -> int:
        """Start a sentence after ``gap`` samples of silence (0: crossfade); returns where it starts."""
        self.head, self.gap = [], int(gap)
        if self.gap > 0 or len(self.tail) == 0:
            return self.emitted + len(self.tail) + self.gap
        return self.emitted + len(self.tail) - min(len(self.tail), self.fade)

    def _ramp(self, n: int, rising: bool) -> np.ndarray:
        t = (np.arange(n, dtype=np.float32) + 0.5) / self.fade
        ramp = np.sin(0.5 * np.pi * np.minimum(t, 1.0)) ** 2
        return ramp if rising else ramp[::-1].copy()

    def _open(self, head: np.ndarray) -> np.ndarray:
        head = head.copy()
        n = min(len(head), self.fade)
        head[:n] *= self._ramp(n, True)
        tail, self.tail = self.tail, np.zeros(0, np.float32)
        if self.gap > 0 or len(tail) == 0:
            if self.emitted or len(tail):
                self.joins.append(self.emitted + len(tail) + self.gap)
            return np.concatenate([tail, np.zeros(self.gap, np.float32), head])
        overlap = min(len(tail), len(head))
        mixed = tail[len(tail) - overlap:] + head[:overlap]
        self.joins.append(self.emitted + len(tail) - overlap)
        return np.concatenate([tail[:len(tail) - overlap], mixed, head[overlap:]])

    def push(self, x: np.ndarray) -> np.ndarray:
        if self.head is not None:
            self.head.append(x)
            if sum(len(h) for h in self.head) < self.fade:
                return np.zeros(0, np.float32)
            x, self.head = self._open(np.concatenate(self.head)), None
        buf = np.concatenate([self.hold, x])
        cut = max(len(buf) - self.fade, 0)
        self.hold = buf[cut:]
        return self._out(buf[:cut])

    def end(self) -> np.ndarray:
        """End the sentence: its last samples fade out and wait for the next join."""
        out = np.zeros(0, np.float32)
        if self.head is not None:
            out = self._open(np.concatenate(self.head)) if self.head else np.zeros(0, np.float32)
            self.head = None
            buf = np.concatenate([self.hold, out])
            cut = max(len(buf) - self.fade, 0)
            self.hold, out = buf[cut:], self._out(buf[:cut])
        self.tail = self.hold * self._ramp(len(self.hold), False) if len(self.hold) else self.hold
        self.hold = np.zeros(0, np.float32)
        return out

    def finish(self, gap: int = 0) -> np.ndarray:
        tail, self.tail = self.tail, np.zeros(0, np.float32)
        return self._out(np.concatenate([tail, np.zeros(gap, np.float32)]))

    def _out(self, x: np.ndarray) -> np.ndarray:
        self.emitted += len(x)
        return x


class DocumentStream(Iterator[np.ndarray]):
    """Float32 samples at ``sample_rate``, chunk by chunk; ``events`` (marks, words, runs) and ``warnings``
    grow as it plays. ``first_audio_seconds`` is the wall time from creation to the first samples.

    ``lookahead=False`` readies each run (and each sentence) in the consumer's thread when it is reached,
    with no background thread, for a caller that schedules the work itself (the serve scheduler)."""

    def __init__(self, owner: Document, doc: SSMLDocument, sample_rate: int | None, *,
                 lookahead: bool = True) -> None:
        self.owner = owner
        self.lookahead = lookahead
        self.doc = doc
        self.began = time.perf_counter()
        self.first_audio_seconds: float | None = None
        self.events: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="ttsint-document")
        self.prepared_runs = 0
        """Runs readied so far (voice, front end, first chunk): at most one ahead of the one playing."""
        runs = doc.runs
        for name in doc.voices():  # every voice the document names, before any audio
            owner.check(name)
        first_state = owner.state(runs[0].voice)  # errors of the first voice raise here
        self.sample_rate = int(sample_rate or first_state.sample_rate)
        self.reference = first_state
        self._joiner = _Joiner(round(FADE_SECONDS * self.sample_rate))
        self._first = self._prepare(0)  # the first run's front end errors raise here too
        self._chunks = self._generate()

    @property
    def warnings(self) -> list[str]:
        return self.doc.warnings

    @property
    def joins(self) -> list[int]:
        """Output sample positions where two sentences meet (through silence or a crossfade)."""
        return self._joiner.joins

    def __iter__(self) -> DocumentStream:
        return self

    def __next__(self) -> np.ndarray:
        chunk = next(self._chunks)
        if self.first_audio_seconds is None:
            self.first_audio_seconds = time.perf_counter() - self.began
        return chunk

    def close(self) -> None:
        self._chunks.close()

    def chunks(self) -> Iterator[Chunk]:
        """The same samples as ttsint Chunks ([N, 1] float32, ``start`` in samples), for code that streams
        chunks (a server's scheduler); closing the generator closes this stream."""
        start = 0
        try:
            for x in self:
                yield Chunk(np.ascontiguousarray(x, dtype=np.float32).reshape(-1, 1), start)
                start += len(x)
        finally:
            self.close()

    def __enter__(self) -> DocumentStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- preparing runs ---------------------------------------------------------------------------
    def _segments(self, run: Run, state: _VoiceState) -> Iterator[tuple[str, Utterance]]:
        """The run's sentences with their utterances, lazily: each goes through the front end when reached."""
        segments: Iterator[tuple[str, Utterance]]
        if run.has_phonemes:
            segments = iter([(run.text, self._phoneme_utterance(run, state))])
        else:
            segments = state.voice.segments(run.text)
        if not run.prosody.pitch_semitones:
            return segments
        if not state.pitch:
            self.doc.warn(f"<prosody pitch> is not supported by voice {state.name!r} and was ignored")
            return segments
        shift = np.array(run.prosody.pitch_semitones, dtype=np.float32)
        return ((t, {**u, PITCH_KEY: shift}) for t, u in segments)

    def _phoneme_utterance(self, run: Run, state: _VoiceState) -> Utterance:
        frontend = state.voice.addon.frontend
        if state.ipa == "frontend":
            pairs = [("ipa", p.ipa) if isinstance(p, Phoneme) else ("text", p) for p in run.parts]
            return frontend.encode_parts(pairs)  # type: ignore[attr-defined]
        if state.ipa is None:
            self.doc.warn(f"<phoneme> is not supported by voice {state.name!r}: its text is said instead")
            return state.voice.encode(run.text)
        ids = {s: i for i, s in enumerate(frontend.symbols)}
        pau = ids["pau"]
        symbols: list[int] = []
        word_ids: list[int] = []
        written = ""  # the run's text so far: a part's first word is the next word of it, unless the
        # part goes on with no space from a word already begun
        for part in run.parts:
            said = part.text if isinstance(part, Phoneme) else part
            joined = bool(written) and not written[-1].isspace() and bool(said) and not said[0].isspace()
            word = len(written.split()) - (1 if joined else 0)
            written += said
            if isinstance(part, Phoneme):
                phones, unmapped = ipa_to_cmu(part.ipa)
                if unmapped:
                    self.doc.warn(f"<phoneme ph={part.ipa!r}>: voice {state.name!r} has no phone for "
                                  f"{' '.join(unmapped)} (left out)")
                symbols += [ids[p] for p in phones]
                word_ids += [word] * len(phones)
                continue
            try:
                utt = state.voice.encode(part)
            except FrontendError:
                continue  # punctuation alone next to a phoneme says nothing
            keep = utt["symbols"] != pau
            symbols += utt["symbols"][keep].tolist()
            local = utt.get("word_ids")
            word_ids += ([int(w) + word if w >= 0 else -1 for w in local[keep]] if local is not None
                         else [-1] * int(keep.sum()))
        if not symbols:
            raise FrontendError(f"nothing to say in {run.text[:60]!r}")
        return {"symbols": np.array([pau, *symbols, pau], dtype=np.int64),
                "word_ids": np.array([-1, *word_ids, -1], dtype=np.int64)}

    def _prepare(self, index: int) -> Future[_Prepared]:
        """Ready run ``index`` in the background (the first in this thread): voice, front end, first chunk."""
        def work() -> _Prepared:
            run = self.doc.runs[index]
            state = self.owner.state(run.voice)
            segments = self._segments(run, state)
            pause = round(state.voice.segment_settings.pause / state.voice.frame_seconds)
            speech = SpeechStream(state.voice.guarded, segments, pause_frames=pause, lookahead=self.lookahead)
            first = next(speech, None)
            self.prepared_runs += 1
            if state is not self.reference:
                state.loudness()
                self.reference.loudness()
            return _Prepared(run, index, state, speech, first)

        if index == 0 or not self.lookahead:
            done: Future[_Prepared] = Future()
            done.set_result(work())
            return done
        return self._executor.submit(work)

    # -- playing ----------------------------------------------------------------------------------
    def _generate(self) -> Iterator[np.ndarray]:
        ahead: Future[_Prepared] | None = self._first
        count = len(self.doc.runs)
        index = 0
        self._gap = 0.0
        try:
            for item in self.doc.items:
                if isinstance(item, Break):
                    self._gap += item.seconds
                    continue
                ready = (ahead or self._prepare(index)).result()  # without look-ahead: readied here, now
                ahead = self._prepare(index + 1) if self.lookahead and index + 1 < count else None
                index += 1
                with ready.speech:
                    yield from self._play(ready)
            tail = self._joiner.finish(round(self._gap * self.sample_rate))
            if len(tail):
                yield tail
        finally:
            if ahead is not None and not ahead.cancel():
                try:
                    ahead.result().speech.close()
                except BaseException:  # noqa: BLE001  a failure of a run that will not play now
                    pass
            self._executor.shutdown(wait=True)

    def _play(self, ready: _Prepared) -> Iterator[np.ndarray]:
        """One run: each sentence resampled, stretched by the run's rate, scaled, and joined."""
        import soxr

        joiner, state, rate, speech = self._joiner, ready.state, ready.run.prosody.rate, ready.speech
        gain = 10 ** (self._gain_db(state, ready.run) / 20)
        sr_in, frame_s = state.sample_rate, state.voice.frame_seconds
        seg_starts: dict[int, int] = {}
        resampler: Any = None
        pending: list[np.ndarray] = []
        current: int | None = None

        def flush() -> Iterator[np.ndarray]:
            if pending:  # a sentence at another rate is stretched whole
                x = time_stretch(np.concatenate(pending), rate, sr_in)
                pending.clear()
                yield joiner.push(self._resample(resampler, x * gain, False))
            yield joiner.push(self._resample(resampler, np.zeros(0, np.float32), True))
            yield joiner.end()

        for chunk in _chain([ready.first] if ready.first is not None else [], speech):
            seg = speech.current
            samples = to_numpy(chunk.frames).reshape(-1).astype(np.float32, copy=False)
            if seg is None:  # the voice's pause between two sentences of the run
                self._gap += len(samples) * frame_s / rate
                continue
            if seg != current:
                if current is not None:
                    yield from (x for x in flush() if len(x))
                seg_starts[seg] = joiner.begin(round(self._gap * self.sample_rate))
                self._gap = 0.0
                resampler = soxr.ResampleStream(sr_in, self.sample_rate, 1, dtype="float32")
                current = seg
            if rate != 1.0:
                pending.append(samples)
                continue
            out = joiner.push(self._resample(resampler, samples * gain, False))
            if len(out):
                yield out
        if current is not None:
            yield from (x for x in flush() if len(x))
        self._record(ready, seg_starts, speech.segments, rate)

    def _resample(self, resampler: Any, x: np.ndarray, last: bool) -> np.ndarray:
        if resampler is None:
            return x.astype(np.float32, copy=False)
        out = resampler.resample_chunk(x.astype(np.float32, copy=False), last=last)
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def _gain_db(self, state: _VoiceState, run: Run) -> float:
        match = 0.0
        if state is not self.reference:
            match = max(-MAX_GAIN_DB, min(MAX_GAIN_DB, self.reference.loudness() - state.loudness()))
        return match + run.prosody.volume_db

    def _record(self, ready: _Prepared, seg_starts: dict[int, int], infos: list[SegmentInfo],
                rate: float) -> None:
        """Times (seconds of output) of the run, its words and its marks."""
        sr = self.sample_rate
        state = ready.state
        a = state.voice.addon
        hop = a.hop_length / a.sample_rate
        words: list[dict[str, Any]] = []
        end_out = self._joiner.emitted + len(self._joiner.tail)
        for info in infos:
            start = seg_starts.get(info.index)
            if start is None:
                continue
            seg_words = _segment_words(info, hop)
            length = ((info.end or info.start) - info.start) * state.voice.frame_seconds
            n = len(info.text.split())
            for w in range(n):
                found = seg_words.get(w)
                if found is None:  # no durations: spread the segment's time over its characters
                    before = len(" ".join(info.text.split()[:w]))
                    share = length / max(len(info.text), 1)
                    found = (before * share, (before + len(info.text.split()[w])) * share, True)
                words.append({"type": "word", "text": info.text.split()[w], "voice": state.name,
                              "start": round(start / sr + found[0] / rate, 4),
                              "end": round(start / sr + found[1] / rate, 4),
                              **({"estimated": True} if found[2] else {})})
        start_s = seg_starts[min(seg_starts)] / sr if seg_starts else end_out / sr
        run_entry = {"type": "run", "voice": state.name, "text": ready.run.text, "start": round(start_s, 4),
                     "end": round(end_out / sr, 4), "rate": rate}
        marks = []
        for mark in self.doc.marks:
            if mark.run != ready.index:
                continue
            t = words[mark.word]["start"] if mark.word < len(words) else run_entry["end"]
            marks.append({"type": "mark", "name": mark.name, "time": t})
        self.runs.append({**run_entry, "words": words, "marks": marks})
        self.events.append(run_entry)
        merged = sorted(marks + words, key=lambda e: (e.get("time", e.get("start")), e["type"] != "mark"))
        self.events.extend(merged)

    def timestamps(self) -> dict[str, Any]:
        """What ``synth --timestamps`` writes for a document: each run with its words, and the marks."""
        return {"sample_rate": self.sample_rate, "runs": self.runs,
                "marks": [e for e in self.events if e["type"] == "mark"], "warnings": self.warnings}


def _chain(first: list[Chunk], rest: Iterator[Chunk]) -> Iterator[Chunk]:
    yield from first
    yield from rest


def _segment_words(info: SegmentInfo, hop: float) -> dict[int, tuple[float, float, bool]]:
    """Word index -> (start, end) seconds in the segment's own time, where the stack knows durations."""
    if info.symbol_frames is None or info.word_ids is None or len(info.word_ids) != len(info.symbol_frames):
        return {}
    frames = to_numpy(info.symbol_frames).astype(np.int64)
    word_ids = to_numpy(info.word_ids)
    ends = np.cumsum(frames, 0)
    starts = ends - frames
    found: dict[int, tuple[float, float, bool]] = {}
    for w in sorted(set(int(x) for x in word_ids.tolist() if x >= 0)):
        where = np.flatnonzero(word_ids == w)
        found[w] = (hop * int(starts[where[0]]), hop * int(ends[where[-1]]), False)
    return found


def speak_to(text: str, voice: str | None = None, output: str | Path | None = None,
             timestamps: str | Path | None = None, *, sample_rate: int | None = None) -> dict[str, Any]:
    """Speak an SSML document (``ttsint synth --ssml``): ``voice`` outside any ``<voice>``, samples written to
    ``output`` (.wav or .npy) as they arrive, marks and words to ``timestamps`` (JSON). Returns a report."""
    from ._audio import NpyWriter, WavWriter
    from ._synth import check_output_path

    for flag, path in (("-o", output), ("--timestamps", timestamps)):
        if path is not None:
            check_output_path(path, flag)
    suffix = Path(output).suffix.lower() if output else None
    if suffix not in (None, ".wav", ".npy"):
        raise ConfigError("-o", f"cannot write {suffix!r} files", "use .wav for audio or .npy for samples")
    with Document(default=voice) as document:
        stream = document.stream(text, sample_rate=sample_rate)
        writer: WavWriter | NpyWriter | None = None
        if output is not None:
            writer = WavWriter(output, stream.sample_rate) if suffix == ".wav" else NpyWriter(output)
        samples = 0
        try:
            with stream:
                for chunk in stream:
                    samples += len(chunk)
                    if writer is not None:
                        writer.write(chunk.reshape(-1, 1))
        except BaseException:
            if writer is not None:
                writer.close()
                writer.path.unlink(missing_ok=True)
            raise
        if writer is not None:
            writer.close()
    total = time.perf_counter() - stream.began
    report: dict[str, Any] = {
        "voices": list(dict.fromkeys(r["voice"] for r in stream.runs)),
        "sample_rate": stream.sample_rate,
        "runs": len(stream.runs),
        "audio_seconds": samples / stream.sample_rate,
        "first_audio_ms": 1000 * (stream.first_audio_seconds or 0.0),
        "total_ms": 1000 * total,
        "warnings": list(stream.warnings),
    }
    if output is not None:
        report["output"] = str(output)
    if timestamps is not None:
        Path(timestamps).write_text(json.dumps(stream.timestamps(), indent=1), encoding="utf-8")
        report["timestamps"] = str(timestamps)
    return report
