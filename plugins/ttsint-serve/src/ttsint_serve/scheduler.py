"""The synthesis scheduler: worker threads that advance many streams one chunk at a time, fairly.

Each step asks one stream's generator for its next chunk. Streams wait in a queue ordered by the
compute time they have had (as in a fair-share CPU scheduler), and a new stream enters at the
front, so a long text never delays the first chunk of a short one by more than a step per worker.
A stream whose client is slow parks once ``buffer_chunks`` chunks are waiting, and its generator
is closed on the worker that holds it when its client goes away.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ttsint import Chunk

__all__ = ["CapacityError", "Scheduler", "StreamRecord", "SynthesisStream"]

log = logging.getLogger("ttsint.serve")

_QUEUED, _RUNNING, _PARKED, _FINISHED = "queued", "running", "parked", "finished"


class CapacityError(Exception):
    """Every stream slot is taken; the client should retry later."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the server is already making {limit} streams, its limit (--max-streams)")


class StreamRecord:
    """What the app and its metrics read of a stream, wherever it is made: its outcome, times and counts.

    Times are ``time.perf_counter()`` readings: ``opened_at``, ``first_chunk_at``, ``finished_at``.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.cancelled = False
        self.error: BaseException | None = None
        self.opened_at = time.perf_counter()
        self.first_chunk_at: float | None = None
        self.finished_at: float | None = None
        self.chunks_made = 0
        self.samples_made = 0
        self._on_finish: list[Callable[[Any], None]] = []


class SynthesisStream(StreamRecord):
    """One utterance being synthesized: workers make its chunks, its consumer awaits them in order."""

    def __init__(self, scheduler: Scheduler, start: Callable[[], Iterator[Chunk]], label: str,
                 loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(label)
        self._scheduler = scheduler
        self._start = start
        self._loop = loop
        self._gen: Iterator[Chunk] | None = None
        self._buffer: deque[Chunk] = deque()
        self._wakeup = asyncio.Event()
        self._state = _QUEUED
        self._vtime = 0.0

    @property
    def finished(self) -> bool:
        """True once the generator is closed: it ended, failed, or was cancelled."""
        return self._state == _FINISHED

    def add_done_callback(self, callback: Callable[[SynthesisStream], None]) -> None:
        """Call ``callback(stream)`` on the worker thread when the stream finishes (at once if it has),
        before its consumer sees the end."""
        with self._scheduler._lock:
            if self.finished_at is None:
                self._on_finish.append(callback)
                return
        callback(self)

    async def next(self) -> Chunk | None:
        """The next chunk, or None after the last; raises what the stack raised."""
        while True:
            with self._scheduler._lock:
                if self._buffer:
                    chunk = self._buffer.popleft()
                    self._scheduler._unpark(self)
                    return chunk
                if self._state == _FINISHED:
                    if self.error is not None:
                        raise self.error
                    return None
                self._wakeup.clear()
            await self._wakeup.wait()

    def __aiter__(self) -> SynthesisStream:
        return self

    async def __anext__(self) -> Chunk:
        chunk = await self.next()
        if chunk is None:
            raise StopAsyncIteration
        return chunk

    def cancel(self) -> None:
        """Stop making chunks: the generator is closed by a worker, and the slot is freed."""
        self._scheduler._cancel(self)

    def _notify(self) -> None:
        try:
            self._loop.call_soon_threadsafe(self._wakeup.set)
        except RuntimeError:  # the event loop is closed: nobody is waiting any more
            pass


class Scheduler:
    """Runs ``workers`` threads (default: one per core) that interleave up to ``max_streams`` streams."""

    def __init__(self, workers: int | None = None, max_streams: int = 16, buffer_chunks: int = 4,
                 on_chunk: Callable[[SynthesisStream, Chunk], None] | None = None) -> None:
        """``on_chunk(stream, chunk)`` is called on the worker as each chunk is made (e.g. to count it)."""
        if max_streams < 1 or buffer_chunks < 1:
            raise ValueError("max_streams and buffer_chunks must be >= 1")
        self.workers = workers or os.cpu_count() or 1
        self.max_streams = max_streams
        self.buffer_chunks = buffer_chunks
        self.on_chunk = on_chunk
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: list[tuple[float, int, int, SynthesisStream]] = []
        self._seq = itertools.count()
        self._clock = 0.0
        self._active: set[SynthesisStream] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self.steps = 0

    @property
    def active(self) -> int:
        """Streams opened and not yet finished."""
        with self._lock:
            return len(self._active)

    def start(self) -> None:
        """Start the worker threads (``open`` starts them too, on first use)."""
        with self._lock:
            if self._threads or self._stopping:
                return
            for i in range(self.workers):
                thread = threading.Thread(target=self._work, name=f"ttsint-synth-{i}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def open(self, start: Callable[[], Iterator[Chunk]], label: str = "") -> SynthesisStream:
        """Queue a stream; ``start()`` runs on a worker and returns its chunks (``voice.stream(text)``).

        Call from the event loop that will await the stream. Raises CapacityError when
        ``max_streams`` streams are active.
        """
        self.start()
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._stopping or len(self._active) >= self.max_streams:
                raise CapacityError(self.max_streams)
            stream = SynthesisStream(self, start, label, loop)
            self._active.add(stream)
            stream._vtime = self._clock  # ahead of every stream that has already had a step
            self._push(stream)
        return stream

    def close(self, timeout: float | None = 5.0) -> None:
        """Cancel every stream, let the workers close their generators, and stop the threads."""
        with self._lock:
            self._stopping = True
            streams = list(self._active)
        for stream in streams:
            stream.cancel()
        with self._lock:
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    # -- inside the lock ------------------------------------------------------------------
    def _push(self, stream: SynthesisStream, vtime: float | None = None) -> None:
        stream._state = _QUEUED
        started = 0 if stream._gen is None else 1  # at equal compute time, a first step goes first
        key = stream._vtime if vtime is None else vtime
        heapq.heappush(self._queue, (key, started, next(self._seq), stream))
        self._ready.notify()

    def _unpark(self, stream: SynthesisStream) -> None:
        if stream._state == _PARKED and len(stream._buffer) < self.buffer_chunks:
            stream._vtime = max(stream._vtime, self._clock)  # no burst of priority for having waited
            self._push(stream)

    def _cancel(self, stream: SynthesisStream) -> None:
        with self._lock:
            if stream._state == _FINISHED or stream.cancelled or stream.finished_at is not None:
                return
            stream.cancelled = True
            stream._buffer.clear()
            if stream._state in (_PARKED, _QUEUED):
                self._push(stream, vtime=float("-inf"))  # a worker closes its generator next
        stream._notify()

    # -- the workers -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not (self._stopping and not self._active):
                    self._ready.wait()
                if not self._queue:
                    return
                vtime, _, _, stream = heapq.heappop(self._queue)
                if stream._state != _QUEUED:
                    continue  # a second entry, pushed when the stream was cancelled while queued
                self._clock = max(self._clock, vtime)
                stream._state = _RUNNING
                cancelled = stream.cancelled
            if cancelled:
                self._finish(stream)
            else:
                self._step(stream)

    def _step(self, stream: SynthesisStream) -> None:
        began = time.perf_counter()
        try:
            if stream._gen is None:
                stream._gen = stream._start()
            chunk = next(stream._gen)
        except StopIteration:
            self._finish(stream)
            return
        except BaseException as exc:  # the stream's failure is its consumer's to report
            self._finish(stream, exc)
            return
        now = time.perf_counter()
        if self.on_chunk is not None:
            self.on_chunk(stream, chunk)
        with self._lock:
            self.steps += 1
            stream.chunks_made += 1
            stream.samples_made += len(chunk)
            if stream.first_chunk_at is None:
                stream.first_chunk_at = now
            stream._vtime += now - began
            cancelled = stream.cancelled
            if not cancelled:
                stream._buffer.append(chunk)
                if len(stream._buffer) < self.buffer_chunks:
                    self._push(stream)
                else:
                    stream._state = _PARKED
        if cancelled:
            self._finish(stream)
        else:
            stream._notify()

    def _finish(self, stream: SynthesisStream, error: BaseException | None = None) -> None:
        gen, stream._gen = stream._gen, None
        if gen is not None and hasattr(gen, "close"):
            try:
                gen.close()  # type: ignore[attr-defined]
            except Exception:
                log.exception("closing the stream of %s failed", stream.label)
        with self._lock:
            stream.error = error
            stream.finished_at = time.perf_counter()
            callbacks, stream._on_finish = stream._on_finish, []
        # The callbacks run before the stream is seen to end, so a client that has read the whole
        # stream finds what they record (its real-time factor) already in /metrics.
        for callback in callbacks:
            try:
                callback(stream)
            except Exception:
                log.exception("a done-callback of stream %s failed", stream.label)
        with self._lock:
            stream._state = _FINISHED
            self._active.discard(stream)
            if self._stopping and not self._active:
                self._ready.notify_all()
        stream._notify()

