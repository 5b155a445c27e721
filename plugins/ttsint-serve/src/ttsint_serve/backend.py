"""What the front doors (the HTTP app, Wyoming, the Ray ingress) need from a back-end, written once.

A back-end is a set of voices (``Voices``) and something that makes their streams (``Streams``). The
in-process server uses ``VoicePool`` and ``Scheduler``; the Ray ingress uses ``RemotePool`` and
``RemoteScheduler``, whose streams are made on voice replicas. Both satisfy these protocols, which
``tests/serve/test_backend.py`` checks, so a front door is written against them, not against either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import ttsint

__all__ = ["Stream", "Streams", "Voice", "Voices"]


@runtime_checkable
class Voice(Protocol):
    """One hosted voice as a front door sees it: name, load status, rate, and a way to start its chunks."""

    name: str
    status: str
    error: str | None

    @property
    def sample_rate(self) -> int: ...

    @property
    def supports_pace(self) -> bool: ...

    def stream(self, text: str, speed: float = 1.0) -> Iterable[ttsint.Chunk] | Any:
        """The chunks of ``text`` at ``speed`` (per request, never changing the voice for others); called
        by ``Streams.open``'s worker, not by the front door."""
        ...

    def describe(self) -> dict[str, Any]: ...


@runtime_checkable
class Voices(Protocol):
    """The voices of one service, loading in the background; ``find`` resolves a requested name."""

    def __iter__(self) -> Iterator[Any]: ...

    def start(self) -> None: ...

    def find(self, name: str | None) -> Any: ...

    def ready_names(self) -> list[str]: ...

    def readiness(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


@runtime_checkable
class Stream(Protocol):
    """One utterance being made: its chunks in order, cancellation, and what metrics read of it."""

    label: str
    cancelled: bool
    error: BaseException | None
    opened_at: float
    first_chunk_at: float | None
    finished_at: float | None
    chunks_made: int
    samples_made: int

    @property
    def finished(self) -> bool: ...

    async def next(self) -> ttsint.Chunk | None: ...

    def cancel(self) -> None: ...

    def add_done_callback(self, callback: Callable[[Any], None]) -> None: ...


@runtime_checkable
class Streams(Protocol):
    """Makes streams: ``open`` admits one, or raises ``CapacityError`` with its ``retry_after``."""

    on_chunk: Callable[[Any, ttsint.Chunk], None] | None

    @property
    def active(self) -> int: ...

    def start(self) -> None: ...

    def open(self, start: Callable[[], Any], label: str = "", *, frame_rate: float | None = None) -> Any: ...

    def close(self, timeout: float | None = 5.0) -> None: ...
