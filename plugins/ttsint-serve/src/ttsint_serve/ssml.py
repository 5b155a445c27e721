"""SSML input for the HTTP and Wyoming front doors: one ``ttsint.Document`` over the pool's ready voices.

An ``input`` (or Wyoming ``text``) that starts with ``<speak`` is spoken by the Document: ``<voice
name>`` may name any voice this server serves, the requested voice speaks the rest, and the audio
comes at the requested voice's rate (the front door resamples it from there as for plain text).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import ttsint

from .pool import VoicePool

__all__ = ["PoolDocuments", "is_ssml"]

is_ssml = ttsint.is_ssml


class PoolDocuments:
    """The Document of the pool's ready voices, rebuilt when that set changes (voices still loading)."""

    def __init__(self, pool: VoicePool) -> None:
        self.pool = pool
        self._lock = threading.Lock()
        self._key: tuple[str, ...] | None = None
        self._document: ttsint.Document | None = None

    def document(self) -> ttsint.Document:
        with self._lock:
            ready = tuple(self.pool.ready_names())
            if self._document is None or ready != self._key:
                voices = {e.name: e.voice for e in self.pool if e.name in ready and e.voice is not None
                          and e.voice.output_kind == "waveform"}
                if not voices:
                    raise ttsint.FrontendError("no voice that makes audio is ready to speak an SSML document")
                self._document = ttsint.Document(voices, default=next(iter(voices)), allowed=list(voices))
                self._key = ready
            return self._document

    def stream(self, text: str, voice: str, sample_rate: int) -> ttsint.DocumentStream:
        """The document ``text`` with ``voice`` outside any ``<voice>``, at ``sample_rate``; errors in the
        document (SSMLError, a FrontendError) raise here."""
        return self.document().stream(text, sample_rate=sample_rate, voice=voice)

    def chunks(self, text: str, voice: str, sample_rate: int) -> Iterator[ttsint.Chunk]:
        return self.stream(text, voice, sample_rate).chunks()
