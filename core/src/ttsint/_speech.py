"""SpeechStream: the chunks of a text's segments as one continuous stream, the next segment prepared ahead.

While segment k streams, a background thread runs the front end and the sequence blocks of
segment k+1 and computes its first chunk, so it plays on at once when k ends. Closing the stream
(or dropping it) stops that thread.
"""

from __future__ import annotations

import collections
import itertools
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._arrays import is_torch, to_numpy, zeros
from ._blocks import StreamableBlock, Timing, timed
from ._data import Chunk, Utterance
from ._errors import FrontendError

__all__ = ["SegmentInfo", "SpeechStream", "word_timings"]


@dataclass
class SegmentInfo:
    """One segment of a stream: its text, its output frames [start, end), and what timing it knows."""

    index: int
    text: str
    start: int
    end: int | None = None
    symbol_frames: Any = field(default=None, repr=False)
    """Frames at the addon's hop that each symbol lasts, when a block in the stack decides durations."""
    word_ids: Any = field(default=None, repr=False)
    """Each symbol's word as an index into ``text.split()`` (-1 between words), when the front end says."""


def word_timings(info: SegmentInfo, hop_seconds: float, offset_seconds: float) -> list[dict[str, Any]]:
    """Each word's text, start and end in seconds, from the segment's symbol durations; [] when unknown."""
    if info.symbol_frames is None or info.word_ids is None or len(info.word_ids) != len(info.symbol_frames):
        return []
    frames = to_numpy(info.symbol_frames).astype(np.int64)
    word_ids = to_numpy(info.word_ids)
    ends = np.cumsum(frames, 0)
    starts = ends - frames
    words = info.text.split()
    out = []
    for w, word in enumerate(words):
        where = np.flatnonzero(word_ids == w)
        if len(where) == 0:
            continue
        out.append({"text": word,
                    "start": round(offset_seconds + hop_seconds * int(starts[where[0]]), 4),
                    "end": round(offset_seconds + hop_seconds * int(ends[where[-1]]), 4)})
    return out


_END = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


@dataclass
class _Ready:
    """A segment made ready to play: front end and sequence blocks done, its first chunk computed.

    Pulling the first chunk of ``block.stream`` runs the sequence blocks, so readying needs nothing
    but ``stream``: look-ahead works the same for every block, first- or third-party.
    """

    text: str
    utt: Utterance
    timing: Timing
    chunks: Iterator[Chunk]
    first: Chunk | None

    @classmethod
    def make(cls, text: str, utt: Utterance, block: StreamableBlock) -> _Ready:
        timing = Timing()
        chunks = timed(block, utt, None, timing)
        return cls(text, utt, timing, chunks, next(chunks, None))

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class _Lookahead:
    """The background thread: readies the next segment, one segment per permit."""

    def __init__(self, segments: Iterator[tuple[str, Utterance]], block: StreamableBlock,
                 background: bool = True) -> None:
        self.segments = segments
        self.block = block
        self.background = background
        self.ready: queue.Queue[Any] = queue.Queue()
        self.permits = threading.Semaphore(0)
        self.stopped = threading.Event()
        self.prepared = 0
        self.readied: collections.deque[_Ready] = collections.deque()
        """Segments readied ahead by ``ready_now``, played before any other."""
        self.upcoming: collections.deque[tuple[str, Utterance]] = collections.deque()
        """Segments through the front end only, fetched ahead by ``more``, readied before any other."""
        self.ended = False
        self.thread = threading.Thread(target=self._run, name="ttsint-lookahead", daemon=True)

    def _run(self) -> None:
        try:
            while True:
                self.permits.acquire()
                if self.stopped.is_set():
                    return
                item = next(self.segments, None)
                if item is None:
                    self.ready.put(_END)
                    return
                ready = _Ready.make(*item, self.block)
                self.prepared += 1
                self.ready.put(ready)
        except BaseException as exc:  # handed to the consumer, which raises it in its own thread
            self.ready.put(_Failure(exc))

    def request(self) -> None:
        """Allow one more segment to be readied (starting the thread on the first request)."""
        if not self.background:
            return
        if not self.thread.is_alive() and self.thread.ident is None:
            self.thread.start()
        self.permits.release()

    def more(self, count: int | None = 1) -> int:
        """How many segments follow, up to ``count`` (None: all), running the front end on them, not
        their blocks."""
        while not self.ended and (count is None or len(self.upcoming) < count):
            item = next(self.segments, None)
            if item is None:
                self.ended = True
            else:
                self.upcoming.append(item)
        return len(self.upcoming)

    def ready_now(self) -> _Ready | None:
        """Ready the next segment in this thread, before it is reached (``SpeechStream.plan_length``)."""
        if not self.more():
            return None
        item = self.upcoming.popleft()
        self.prepared += 1
        ready = _Ready.make(*item, self.block)
        self.readied.append(ready)
        return ready

    def take(self) -> Any:
        if self.readied:
            return self.readied.popleft()
        if self.upcoming:
            item = self.upcoming.popleft()
            self.prepared += 1
            return _Ready.make(*item, self.block)
        if self.ended:
            return _END
        if not self.background:  # readied here, in the consumer's thread, when it is needed
            item = next(self.segments, None)
            if item is None:
                return _END
            self.prepared += 1
            return _Ready.make(*item, self.block)
        item = self.ready.get()
        if isinstance(item, _Failure):
            raise item.exc
        return item

    def stop(self) -> None:
        """Stop the thread, then close the streams of segments it readied that will not be played."""
        self.stopped.set()
        self.permits.release()
        if self.thread.ident is not None:
            self.thread.join()
        while not self.ready.empty():
            item = self.ready.get_nowait()
            if isinstance(item, _Ready):
                item.close()
        while self.readied:
            self.readied.popleft().close()


class _Progress:
    """What the consumer has reached; shared by the stream object and its generator (which must not
    hold the stream object itself, so that dropping the stream closes the generator at once)."""

    def __init__(self) -> None:
        self.segments: list[SegmentInfo] = []
        self.current: int | None = None


class SpeechStream(Iterator[Chunk]):
    """Iterates the chunks of every segment, with ``start`` running on and a pause between segments.

    Each segment's frames are exactly those its own stream would make. ``segments`` grows as
    segments start; ``current`` is the segment of the last chunk (None for a pause).
    """

    def __init__(self, block: StreamableBlock, segments: Iterator[tuple[str, Utterance]], *,
                 pause_frames: int = 0, lookahead: bool = True) -> None:
        """``lookahead=False`` readies each next segment in the consumer's thread when it is reached, for a
        caller that schedules the work itself (the serve scheduler interleaves many streams)."""
        first = next(segments, None)  # the front end's errors for the first sentence surface here
        if first is None:
            raise FrontendError("nothing to say: the front end found no segments in the text")
        self.pause_frames = int(pause_frames)
        self._progress = _Progress()
        self._ahead = _Lookahead(segments, block, background=lookahead)
        self._first: list[Any] = [first]
        self._chunks = _run(block, self._first, self._ahead, self._progress, self.pause_frames)
        self._started = False

    def plan_length(self, hop_frames: int, *, budget: float | None = None) -> int | None:
        """Ready the segments now, in this thread, to learn how many frames the whole stream will make.

        Call it before the first chunk, on a ``lookahead=False`` stream. Each segment readied is
        played as it is (nothing is made twice). A segment lasts the sum of its symbol durations
        times ``hop_frames`` (output frames per duration frame: the addon's hop for a waveform),
        and a pause separates segments. Returns None, leaving the other segments to be readied when
        reached, as soon as a segment's durations are unknown, or when readying the segments after the
        first would take more than ``budget`` seconds: the first is readied whatever the budget (the
        first chunk needs it anyway), and its time foretells the others' (counted through the front
        end only, and only as far as the budget could reach); readying stops too once it is spent.
        """
        if self._started or self._ahead.background:
            raise RuntimeError("plan_length needs a lookahead=False stream whose chunks have not started")
        began = time.perf_counter()
        item = self._first[0]
        if not isinstance(item, _Ready):
            item = self._first[0] = _Ready.make(*item, self._ahead.block)
        first = time.perf_counter() - began  # the first segment's readying: needed anyway, not counted
        total, count = 0, 0
        while item is not None:
            frames = item.timing.symbol_frames
            if frames is None:
                return None
            total += int(frames.sum()) * int(hop_frames) + (self.pause_frames if count else 0)
            count += 1
            if budget is not None and self._ahead.more():
                affordable = int(budget / max(first, 1e-6))  # segments like the first that fit the budget
                if count == 1 and self._ahead.more(affordable + 1) > affordable:
                    return None  # the rest would take longer than the budget: not begun
                if time.perf_counter() - began - first >= budget:
                    return None
            item = self._ahead.ready_now()
        return total

    @property
    def segments(self) -> list[SegmentInfo]:
        """The segments started so far, in order."""
        return self._progress.segments

    @property
    def current(self) -> int | None:
        """The segment index of the last chunk yielded; None when it was a pause."""
        return self._progress.current

    @property
    def prepared_ahead(self) -> int:
        """How many segments the background thread has readied: instrumentation for tests and stats."""
        return self._ahead.prepared

    @property
    def lookahead_running(self) -> bool:
        return self._ahead.thread.is_alive()

    def __next__(self) -> Chunk:
        self._started = True
        return next(self._chunks)

    def __iter__(self) -> SpeechStream:
        return self

    def close(self) -> None:
        """Stop streaming and stop the look-ahead thread (waiting for the segment it is preparing)."""
        self._chunks.close()
        if isinstance(self._first[0], _Ready):  # readied by plan_length, never played
            self._first[0].close()
        self._ahead.stop()

    def __enter__(self) -> SpeechStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _run(block: StreamableBlock, first: list[Any], ahead: _Lookahead, progress: _Progress,
         pause_frames: int) -> Iterator[Chunk]:
    """``first`` holds the first segment: its text and utterance, or already readied by ``plan_length``."""
    offset = 0
    item: Any = None
    try:
        item, first[0] = first[0], None
        if not isinstance(item, _Ready):
            item = _Ready.make(*item, block)
        while item is not _END:
            info = SegmentInfo(len(progress.segments), item.text, offset, word_ids=item.utt.get("word_ids"))
            progress.segments.append(info)
            ahead.request()  # segment k is about to play: ready k+1 meanwhile
            last: Chunk | None = None
            for chunk in itertools.chain([item.first] if item.first is not None else [], item.chunks):
                progress.current = info.index
                last = chunk
                yield chunk if info.start == 0 else Chunk(chunk.frames, info.start + chunk.start)
            offset = info.start + (last.end if last is not None else 0)
            info.end = offset
            info.symbol_frames = _symbol_frames(item.timing)
            item = ahead.take()
            if item is not _END and last is not None and pause_frames > 0:
                progress.current = None
                yield Chunk(zeros((pause_frames, last.frames.shape[1]), last.frames), offset)
                offset += pause_frames
    finally:
        if isinstance(item, _Ready):
            item.close()
        ahead.stop()


def _symbol_frames(timing: Timing) -> Any:
    frames = timing.symbol_frames
    return frames.detach().cpu() if is_torch(frames) else frames
