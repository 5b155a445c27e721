"""SSML input for the HTTP and Wyoming front doors: one ``ttsint.Document`` over the pool's ready voices.

An ``input`` (or Wyoming ``text``) that starts with ``<speak`` is spoken by the Document: ``<voice
name>`` may name any voice this server serves, the requested voice speaks the rest, and the audio
comes at the requested voice's rate (the front door resamples it from there as for plain text).

Documents stream without look-ahead threads: each run and sentence is readied on the scheduler's
worker when it is reached, so SSML requests are ordered by deadline and admitted by cost like plain
text. A request's ``speed`` multiplies every run's rate: voices with a ``pace`` parameter speak paced
(their paced copies, as for plain text), the others are time-stretched as ``<prosody rate>`` is.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Iterator

import ttsint

from .pool import VoicePool

__all__ = ["PoolDocuments", "is_ssml"]

is_ssml = ttsint.is_ssml
_SPEEDS_KEPT = 4


class PoolDocuments:
    """The Documents of the pool's ready voices, one per speed asked for (the last few kept), rebuilt
    when the set of ready voices changes (voices still loading)."""

    def __init__(self, pool: VoicePool) -> None:
        self.pool = pool
        self._lock = threading.Lock()
        self._key: tuple[str, ...] | None = None
        self._documents: OrderedDict[float, ttsint.Document] = OrderedDict()

    def document(self, speed: float = 1.0) -> ttsint.Document:
        """The Document whose voices speak ``speed`` times faster where they have a ``pace`` parameter."""
        key = round(float(speed), 3)
        with self._lock:
            ready = tuple(self.pool.ready_names())
            if ready != self._key:
                self._documents.clear()
                self._key = ready
            found = self._documents.get(key)
            if found is not None:
                self._documents.move_to_end(key)
                return found
            entries = [e for e in self.pool if e.name in ready and e.voice is not None
                       and e.voice.output_kind == "waveform"]
            if not entries:
                raise ttsint.FrontendError("no voice that makes audio is ready to speak an SSML document")
            voices = {e.name: e.paced_copy(key) if e.paced_by_copy else e.voice for e in entries}
            document = ttsint.Document(voices, default=next(iter(voices)), allowed=list(voices))
            self._documents[key] = document
            while len(self._documents) > _SPEEDS_KEPT:
                self._documents.popitem(last=False)
            return document

    def _paced_names(self) -> set[str]:
        return {e.name for e in self.pool if e.paced_by_copy}

    def stream(self, text: str, voice: str, sample_rate: int, speed: float = 1.0) -> ttsint.DocumentStream:
        """The document ``text`` with ``voice`` outside any ``<voice>``, at ``sample_rate`` and ``speed``,
        readied on the consuming thread (no look-ahead thread); errors in the document (SSMLError, a
        FrontendError) raise here."""
        document = self.document(speed)
        if speed == 1.0 or not is_ssml(text):
            return document.stream(text, sample_rate=sample_rate, voice=voice, lookahead=False)
        doc = ttsint.parse_ssml(text)
        paced = self._paced_names()
        for run in doc.runs:
            run.voice = run.voice or voice
            if run.voice not in paced:  # no pace control: stretched, as <prosody rate> is
                run.prosody = dataclasses.replace(run.prosody, rate=run.prosody.rate * speed)
        return ttsint.DocumentStream(document, doc, sample_rate, lookahead=False)

    def chunks(self, text: str, voice: str, sample_rate: int, speed: float = 1.0) -> Iterator[ttsint.Chunk]:
        return self.stream(text, voice, sample_rate, speed).chunks()
