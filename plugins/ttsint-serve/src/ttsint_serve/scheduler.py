"""The synthesis scheduler: worker threads that advance many streams one chunk at a time, by deadline.

Each step asks one stream's generator for its next chunk. Streams wait in a queue ordered by their
deadline: the moment their listener runs out of audio (first audio + audio made so far), so a
stream with seconds buffered yields to one about to stall. A new stream counts as due when it was
opened, and a running one ``reserve`` seconds before it runs dry: a new stream gets its first chunk
before every stream with more than ``reserve`` seconds of audio in hand, and a burst of new streams
cannot starve the running ones into stalling. A stream
whose client is slow parks once ``buffer_chunks`` chunks are waiting, and its generator is closed on
the worker that holds it when its client goes away.

A step cannot be interrupted, and some are long: the one that readies a sentence runs its encoders (a
Kokoro voice: its whole network), while the chunks within a sentence are cheap. Each voice's longest
step is measured (a decaying maximum), and a running stream comes due that much earlier, so the step
that readies its next sentence starts before its listener runs dry. A new stream's first audio is held
back until it covers twice the stream's longest step so far, or until four chunks are made: a voice whose
first chunks are small beside their cost (Piper's first window is 23 ms of audio) would otherwise leave
its listener waiting on the second; a voice whose first chunk is large (en-rms, a fifth of a second)
sends it at once.

Admission is by cost: each voice's measured worker-seconds per audio second (a stream's start, the front
end and first sentence's encoders, spread over a stream's usual length, plus its running steps, the next
sentences' encoders among them) tell how much of the workers the open streams need to stay real-time; a
stream that would push that past ``headroom`` of the workers is refused with a ``Retry-After`` derived
from how long streams last. A stream's steps run one after another, on one worker at a time, so a voice
that needs more than ``headroom`` of one worker per audio second cannot be real-time even alone: it is
refused until its measure is ``_STALE`` seconds old, when one stream is admitted to measure it again
(the machine may be less loaded by then).
Admission is checked twice: when a stream is opened, and again when a worker takes it up for its
first chunk (nothing has been sent to its client yet). A burst opens all its streams within
milliseconds, on costs measured before it; by the time a worker reaches a stream of the burst, the
burst's own steps have been measured and any listener it made run dry is known, so a stream the
workers cannot keep in real time fails with CapacityError (a 429) instead of making everyone stutter.

Batching across streams (``batch`` > 1): a worker that takes a stream also takes up to ``batch - 1`` more
queued streams of the same voice at the same stage (all at their first chunk, or all past it), most
urgent first, and steps them together (``ttsint.BatchGroup``): each on a thread of its own, their calls
of networks declared ``batch = true`` made as one call per shape. Each stream's chunk is delivered as
soon as its own step ends; the workers' time the group took is shared among its streams' costs. A voice
and stage whose groups made no batched call (no batchable network, or windows of different shapes) stops
forming groups after a few tries, and tries again every ``_RETRY``-th time.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ttsint import BatchGroup, Chunk

__all__ = ["CapacityError", "Scheduler", "StreamRecord", "SynthesisStream"]

log = logging.getLogger("ttsint.serve")

_QUEUED, _RUNNING, _PARKED, _RESTING, _FINISHED = "queued", "running", "parked", "resting", "finished"
_RETRY = 32  # a voice and stage whose groups did not batch is grouped again every _RETRY-th step
_HOLD = 2.0  # a new stream's first audio waits until it covers this many times its longest step so far
_HOLD_CHUNKS = 4  # ... or until this many chunks are made (a voice slower than real time cannot wait forever)
_STALE = 30.0  # seconds after its last measured step that a voice refused as too slow is tried again


class CapacityError(Exception):
    """No room for another stream: every slot is taken, or the open streams need the workers' time to stay
    real-time. ``retry_after`` is the number of seconds after which a retry is likely to be admitted."""

    def __init__(self, limit: int, retry_after: int = 1, message: str | None = None) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(message
                         or f"the server is already making {limit} streams, its limit (--max-streams)")


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
                 loop: asyncio.AbstractEventLoop, frame_rate: float | None = None) -> None:
        super().__init__(label)
        self._scheduler = scheduler
        self._start = start
        self._loop = loop
        self.frame_rate = frame_rate
        self._gen: Iterator[Chunk] | None = None
        self._buffer: deque[Chunk] = deque()
        self._wakeup = asyncio.Event()
        self._state = _QUEUED
        self._compute = 0.0
        self._cost = 0.0
        self._taken = False  # a worker has taken it up (admitted again at its first step)
        self._longest = 0.0  # its longest step before its first audio, in seconds

    @property
    def audio_made(self) -> float:
        """Seconds of audio made so far (compute seconds when the stream gave no frame rate)."""
        return self.samples_made / self.frame_rate if self.frame_rate else self._compute

    @property
    def deadline(self) -> float:
        """When the listener runs out of audio: first audio + audio made; for a new stream, when it opened."""
        if self.first_chunk_at is None:
            return self.opened_at
        return self.first_chunk_at + self.audio_made

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
                if self._buffer and (self.first_chunk_at is not None or self._state == _FINISHED):
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
    """Runs ``workers`` threads (default: one per core) that interleave up to ``max_streams`` streams.

    ``headroom`` is the share of the workers' time that admitted streams may need by measured cost
    (None: admit up to ``max_streams`` whatever the load). ``reserve`` is the audio, in seconds, that
    a running stream keeps in hand, beyond its voice's longest step, before a new stream's first chunk
    goes ahead of it; while a running stream has less than a quarter of it in hand (past its first
    ``reserve`` seconds), or one ran dry by more than that quarter within the last quarter of ``reserve``
    seconds, new streams are refused.
    The default ``headroom`` 0.9 keeps a voice's real-time streams at 0.8 of its compute bound or more
    (admission counts whole streams). ``lead``
    (None: no limit) paces each stream: one with more than ``lead`` seconds of audio beyond real time
    (since its first chunk) rests until it is back within it, so a consumer that takes chunks as fast as
    they come (Ray Serve's streaming handle, which has no flow control) holds at most about ``lead``
    seconds more than its listener has played. ``batch`` is the most streams of one voice a worker steps
    together, their batchable network calls made as one (1: each stream steps alone).
    """

    def __init__(self, workers: int | None = None, max_streams: int = 16, buffer_chunks: int = 4,
                 on_chunk: Callable[[SynthesisStream, Chunk], None] | None = None, *,
                 headroom: float | None = 0.9, reserve: float = 1.0, lead: float | None = None,
                 batch: int = 1) -> None:
        """``on_chunk(stream, chunk)`` is called on the worker as each chunk is made (e.g. to count it)."""
        if max_streams < 1 or buffer_chunks < 1 or batch < 1:
            raise ValueError("max_streams, buffer_chunks and batch must be >= 1")
        if headroom is not None and not 0 < headroom:
            raise ValueError("headroom must be > 0")
        self.workers = workers or os.cpu_count() or 1
        self.max_streams = max_streams
        self.buffer_chunks = buffer_chunks
        self.on_chunk = on_chunk
        self.headroom = headroom
        self.reserve = reserve
        self.lead = lead
        self.batch = batch
        self._group: BatchGroup | None = None  # made with its threads when the workers start
        self._grouping: dict[tuple[str, bool], list[int]] = {}  # (label, first) -> [groups, batched, skipped]
        self._resting: list[tuple[float, int, SynthesisStream]] = []
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: list[tuple[float, int, SynthesisStream]] = []
        self._seq = itertools.count()
        self._active: set[SynthesisStream] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = False
        self._costs: dict[str, list[float]] = {}  # label -> [worker-seconds, audio seconds], decaying
        self._starts: dict[str, list[float]] = {}  # label -> a start's [worker-seconds, audio seconds]
        self._lengths: dict[str, float] = {}  # label -> seconds of audio in one of its streams, averaged
        self._started: dict[str, int] = {}  # label -> streams whose start was measured
        self._longest: dict[str, float] = {}  # label -> its longest step lately, in seconds (decaying)
        self._measured_at: dict[str, float] = {}  # label -> when a step of it was last measured
        self._ran_dry_at = -math.inf  # when a step last ended after its stream's listener had run dry
        self._lifetime = 0.0  # seconds a finished stream lasted, averaged
        self.refused = 0
        """Streams refused when opened (CapacityError from ``open``)."""
        self.refused_late = 0
        """Streams refused at their first step (admitted when opened, then found to be beyond capacity)."""

    def longest_step(self, label: str) -> float:
        """Seconds of ``label``'s longest step lately (a sentence's readying, usually; 0 before any)."""
        with self._lock:
            return self._longest.get(label, 0.0)

    def cost(self, label: str) -> float | None:
        """Measured worker-seconds per audio second of ``label``'s streams (None before any was measured)."""
        with self._lock:
            return self._cost_of(label)

    @property
    def load(self) -> float:
        """Workers' time the open streams need to stay real-time, as a share of all workers (1.0 = full)."""
        with self._lock:
            return self._load() / self.workers

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
            if self.batch > 1:  # every worker may step a group at once: batch - 1 threads each beside it
                pool = ThreadPoolExecutor(self.workers * (self.batch - 1), thread_name_prefix="ttsint-batch")
                self._group = BatchGroup(pool)
            for i in range(self.workers):
                thread = threading.Thread(target=self._work, name=f"ttsint-synth-{i}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def open(self, start: Callable[[], Iterator[Chunk]], label: str = "", *,
             frame_rate: float | None = None) -> SynthesisStream:
        """Queue a stream; ``start()`` runs on a worker and returns its chunks (``voice.stream(text)``).

        ``frame_rate`` is the chunks' frames per second of audio (the sample rate for a waveform): it
        gives the stream its deadline and its voice a measured cost. Call from the event loop that
        will await the stream. Raises CapacityError when ``max_streams`` streams are active, or when
        the open streams' measured cost leaves no room for one more of ``label``.
        """
        self.start()
        loop = asyncio.get_running_loop()
        with self._lock:
            try:
                if self._stopping or len(self._active) >= self.max_streams:
                    raise CapacityError(self.max_streams, self._retry_after(1))
                self._admit(label)
            except CapacityError:
                self.refused += 1
                raise
            stream = SynthesisStream(self, start, label, loop, frame_rate)
            stream._cost = self._cost_of(label) or 0.0
            self._active.add(stream)
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
        if self._group is not None:
            self._group.executor.shutdown(wait=False)

    @property
    def batched_calls(self) -> tuple[int, int]:
        """Network calls made for streams stepped together, and how many of them served several streams."""
        group = self._group
        return (group.calls, group.batched) if group is not None else (0, 0)

    # -- inside the lock ------------------------------------------------------------------
    def _push(self, stream: SynthesisStream, key: float | None = None) -> None:
        stream._state = _QUEUED
        if key is None:  # a running stream comes due reserve + its voice's longest step before it runs dry
            key = stream.deadline - (self.reserve + self._longest.get(stream.label, 0.0)
                                     if stream.first_chunk_at is not None else 0.0)
        heapq.heappush(self._queue, (key, next(self._seq), stream))
        self._ready.notify()

    def _wake_rested(self) -> None:
        now = time.perf_counter()
        while self._resting and self._resting[0][0] <= now:
            stream = heapq.heappop(self._resting)[2]
            if stream._state == _RESTING:
                self._push(stream)

    def _unpark(self, stream: SynthesisStream) -> None:
        if stream._state == _PARKED and len(stream._buffer) < self.buffer_chunks:
            self._push(stream)

    def _cost_of(self, label: str) -> float | None:
        """Worker-seconds per audio second of a whole stream of ``label``: its start (the steps before its
        first audio, front end and first sentence's encoders included) spread over a stream's usual length,
        plus its running steps. The two are kept apart because a burst's starts all come at once: counted
        as steps among the others, they would make the voice seem many times dearer until they had passed."""
        sums, start, length = self._costs.get(label), self._starts.get(label), self._lengths.get(label)
        running = sums[0] / sums[1] if sums and sums[1] > 0 else None
        if start is None:
            return running
        if running is None or length is None or length <= start[1]:
            return start[0] / start[1] if start[1] > 0 else running
        return (start[0] + running * (length - start[1])) / length

    def _load(self) -> float:
        """Worker-seconds per second the open streams need, each at its voice's measured cost."""
        return sum(self._cost_of(s.label) or s._cost for s in self._active)

    def _admit(self, label: str, stream: SynthesisStream | None = None) -> None:
        """Raise CapacityError when one more stream of ``label`` would need more than ``headroom`` of the
        workers, by the costs measured so far (a voice not yet measured is admitted). ``stream``: the
        stream being re-checked at its first step (already counted among the open ones)."""
        others = self._active - {stream} if stream is not None else self._active
        if self.headroom is None:
            return
        self._too_slow(label, others)
        if not others:
            return
        now = time.perf_counter()
        # A stream is behind once its listener has run dry, or has less than reserve/4 in hand after its
        # first reserve seconds (before that it is still being topped up from its first chunk).
        behind = [s for s in others if s.first_chunk_at is not None and s.frame_rate and s._state != _PARKED
                  and s.deadline < now + (self.reserve / 4 if now - s.first_chunk_at > self.reserve else 0.0)]
        if behind:  # whatever the costs say, a listener has (all but) run dry: the workers are not keeping up
            raise CapacityError(self.max_streams, self._retry_after(len(behind)),
                                f"the server is behind: {len(behind)} of its {len(others)} open "
                                "streams are not keeping up with their listeners")
        if now - self._ran_dry_at < self.reserve / 4:  # caught up since, but the workers just fell behind
            ago = now - self._ran_dry_at
            raise CapacityError(self.max_streams, self._retry_after(1),
                                f"the server is behind: a listener ran dry {ago:.1f} s ago")
        cost = self._cost_of(label)
        room = self.headroom * self.workers
        if stream is None:  # on arrival: every open stream, started or not
            load = self._load()
        else:  # at the first chunk: the streams taken up before it, started or still in their first steps
            # (those queued behind it are checked in their turn)
            load = sum(self._cost_of(s.label) or s._cost for s in others if s._taken)
        if cost is None or load + cost <= room:
            return
        # The streams holding the excess must end first: a share of the open ones, at their usual length.
        share = min(1.0, (load + cost - room) / max(load, 1e-9))
        needed = max(1, math.ceil(share * len(self._active)))
        raise CapacityError(self.max_streams, self._retry_after(needed),
                            f"the server is at its measured capacity: {len(self._active)} open streams need "
                            f"{load / self.workers:.0%} of its {self.workers} synthesis workers to stay "
                            f"real-time, and one more of {label!r} would pass {self.headroom:.0%}")

    def _too_slow(self, label: str, others: set[SynthesisStream]) -> None:
        """Raise CapacityError when one stream of ``label`` alone needs more than ``headroom`` of a worker per
        audio second (its steps run one at a time); a measure ``_STALE`` seconds old with no stream of the
        voice open is forgotten instead, so the next stream measures the voice again."""
        cost = self._cost_of(label)
        if cost is None or cost <= self.headroom or self._started.get(label, 0) < 2:  # type: ignore[operator]
            return  # the first stream after start-up runs cold: one is not enough to refuse a voice
        since = time.perf_counter() - self._measured_at.get(label, 0.0)
        if since >= _STALE and not any(s.label == label for s in others):
            for measures in (self._costs, self._starts, self._longest, self._started):
                measures.pop(label, None)  # type: ignore[attr-defined]
            return
        raise CapacityError(self.max_streams, int(min(60, max(1, math.ceil(_STALE - since)))),
                            f"voice {label!r} is slower than real time on this machine now: one stream of it "
                            f"takes {cost:.2f} s of a synthesis worker per second of audio (at most "
                            f"{self.headroom:.2f} keeps a listener in real time)")

    def _retry_after(self, needed: int) -> int:
        """Whole seconds until about ``needed`` of the open streams have ended, from how long streams last."""
        if not self._active or self._lifetime <= 0:
            return 1
        now = time.perf_counter()
        remaining = sorted(max(0.0, self._lifetime - (now - s.opened_at)) for s in self._active)
        wait = remaining[min(needed, len(remaining)) - 1]
        return int(min(60, max(1, math.ceil(wait))))

    def _cancel(self, stream: SynthesisStream) -> None:
        with self._lock:
            if stream._state == _FINISHED or stream.cancelled or stream.finished_at is not None:
                return
            stream.cancelled = True
            stream._buffer.clear()
            if stream._state in (_PARKED, _QUEUED, _RESTING):
                self._push(stream, key=float("-inf"))  # a worker closes its generator next
        stream._notify()

    # -- the workers -----------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                while True:
                    self._wake_rested()
                    if self._queue or (self._stopping and not self._active):
                        break
                    self._ready.wait(self._resting[0][0] - time.perf_counter() if self._resting else None)
                if not self._queue:
                    return
                _, _, stream = heapq.heappop(self._queue)
                if stream._state != _QUEUED:
                    continue  # a second entry, pushed when the stream was cancelled while queued
                stream._state = _RUNNING
                cancelled = stream.cancelled
                stage = (stream.label, stream._gen is None)
                together = self._companions(stream) if not cancelled and self._group is not None else []
            if cancelled:
                self._finish(stream)
            elif together:
                gang = [stream, *together]
                assert self._group is not None
                counts: list[int] = []
                self._group.run([functools.partial(self._step, s, 1 / len(gang)) for s in gang], counts)
                with self._lock:
                    grouping = self._grouping[stage]
                    grouping[0] += 1
                    grouping[1] += bool(counts and counts[1])
            else:
                self._step(stream)

    def _companions(self, stream: SynthesisStream) -> list[SynthesisStream]:
        """Up to ``batch - 1`` queued streams to step with ``stream`` (inside the lock): of its voice, at its
        stage (first chunk or not), most urgent first; taken off the queue and marked running."""
        first = stream._gen is None
        grouping = self._grouping.setdefault((stream.label, first), [0, 0, 0])
        if grouping[0] >= 3 and 2 * grouping[1] < grouping[0]:  # most of its groups batched no call
            grouping[2] += 1
            if grouping[2] % _RETRY:
                return []
        fits = [e for e in self._queue if e[2] is not stream and e[2]._state == _QUEUED and not e[2].cancelled
                and e[2].label == stream.label and (e[2]._gen is None) == first]
        if not fits:
            return []
        taken = [e[2] for e in heapq.nsmallest(self.batch - 1, fits)]
        for s in taken:
            s._state = _RUNNING
        self._queue = [e for e in self._queue if e[2]._state == _QUEUED]
        heapq.heapify(self._queue)
        return taken

    def _step(self, stream: SynthesisStream, share: float = 1.0) -> None:
        """One chunk of ``stream``; ``share``: its part of the worker's time (1 / streams stepped at once)."""
        if stream._gen is None and stream.first_chunk_at is None:  # admitted again, by what is known now
            try:
                with self._lock:
                    self._admit(stream.label, stream)
                    stream._taken = True
            except CapacityError as exc:
                self.refused_late += 1
                self._finish(stream, exc)
                return
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
            started = stream.first_chunk_at is not None
            if started and stream.frame_rate and now > stream.deadline + self.reserve / 4:
                self._ran_dry_at = now  # its listener ran dry meanwhile, by more than a quarter of reserve
            stream.chunks_made += 1
            stream.samples_made += len(chunk)
            stream._compute += (now - began) * share
            if not started:
                stream._longest = max(stream._longest, now - began)
            if started and stream.frame_rate:
                self._measure(stream.label, (now - began) * share, len(chunk) / stream.frame_rate)
            cancelled = stream.cancelled
            if not cancelled:
                stream._buffer.append(chunk)
                if not started and self._playable(stream):
                    stream.first_chunk_at = now
                    if stream.frame_rate:
                        self._measure_start(stream)
                if stream.first_chunk_at is None:
                    self._push(stream)  # held back: still a new stream, due since it opened
                elif len(stream._buffer) >= self.buffer_chunks:
                    stream._state = _PARKED
                elif self.lead is not None and stream.frame_rate and stream.deadline - now > self.lead:
                    stream._state = _RESTING  # far enough ahead of its listener: back when within lead
                    heapq.heappush(self._resting, (stream.deadline - self.lead, next(self._seq), stream))
                    self._ready.notify()
                else:
                    self._push(stream)
        if cancelled:
            self._finish(stream)
        elif stream.first_chunk_at is not None:
            stream._notify()

    def _playable(self, stream: SynthesisStream) -> bool:
        """Whether a new stream's chunks made so far may go to its listener (inside the lock): they cover
        ``_HOLD`` times its longest step so far (its next is likely as long), or ``_HOLD_CHUNKS`` are made."""
        if not stream.frame_rate or len(stream._buffer) >= min(self.buffer_chunks, _HOLD_CHUNKS):
            return True
        return stream.audio_made >= _HOLD * stream._longest

    def _measure(self, label: str, seconds: float, audio: float) -> None:
        """Add a running stream's step to ``label``'s cost, older steps weighing less (about the last 100
        count: a burst's own steps soon outweigh what was measured before it, when the machine's load may
        have differed), and to its longest step."""
        sums = self._costs.setdefault(label, [0.0, 0.0])
        sums[0] = sums[0] * 0.99 + seconds
        sums[1] = sums[1] * 0.99 + audio
        self._longest[label] = max(seconds, self._longest.get(label, 0.0) * 0.95)
        self._measured_at[label] = time.perf_counter()

    def _measure_start(self, stream: SynthesisStream) -> None:
        """Add a stream's start (its steps before its first audio) to its voice's; the last ten count."""
        self._started[stream.label] = self._started.get(stream.label, 0) + 1
        start = self._starts.setdefault(stream.label, [0.0, 0.0])
        start[0] = start[0] * 0.9 + stream._compute * 0.1 if start[1] else stream._compute
        start[1] = start[1] * 0.9 + stream.audio_made * 0.1 if start[1] else stream.audio_made
        self._measured_at[stream.label] = time.perf_counter()

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
            if stream.first_chunk_at is None and stream._buffer:  # ended while its first audio was held
                stream.first_chunk_at = stream.finished_at
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
            if error is None and not stream.cancelled:
                if stream.frame_rate:
                    made, known = stream.audio_made, self._lengths.get(stream.label)
                    self._lengths[stream.label] = made if known is None else 0.8 * known + 0.2 * made
                lasted = stream.finished_at - stream.opened_at
                self._lifetime = lasted if self._lifetime <= 0 else 0.8 * self._lifetime + 0.2 * lasted
            if self._stopping and not self._active:
                self._ready.notify_all()
        stream._notify()

