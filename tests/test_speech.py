"""SpeechStream: segments streamed as one run of chunks, each exact, the next prepared in the background."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from ttsint import (
    CharacterFrontend,
    Chunk,
    FrontendError,
    Registry,
    SpeechStream,
    StreamableBlock,
    Utterance,
    Voice,
)

TEXT = "Dr. Smith paid three dollars. He left at noon! Did he come back? Yes, he did. Then all was quiet."
PAUSE = 0.01  # seconds: 40 frames at the tiny addon's hop of 2 samples at 8 kHz


class CountingFrontend(CharacterFrontend):
    """The tiny addon's front end, recording each call and the thread it ran on."""

    def __init__(self, symbols: str) -> None:
        super().__init__(symbols)
        self.calls: list[str] = []
        self.threads: list[str] = []
        self.called = threading.Event()

    def __call__(self, text: str) -> Utterance:
        self.calls.append(text)
        self.threads.append(threading.current_thread().name)
        self.called.set()
        return super().__call__(text)


@pytest.fixture
def voice(tiny_addon: Path, toy_registry: Registry) -> Voice:
    return Voice.load(tiny_addon, {"segments.pause": PAUSE}, registry=toy_registry)


@pytest.fixture
def counting(voice: Voice) -> CountingFrontend:
    front = CountingFrontend("".join(voice.addon.frontend.symbols[1:]))
    voice.addon._frontend = front
    return front


def test_stream_is_the_segments_streamed_alone_with_pauses_between(voice: Voice) -> None:
    segments = [text for text, _ in voice.segments(TEXT)]
    assert len(segments) == 5
    pause = round(PAUSE * voice.addon.sample_rate / voice.addon.hop_length)
    expected = []
    for i, text in enumerate(segments):
        expected.append(torch.cat([c.frames for c in voice.stream_utterance(voice.encode(text))]))
        if i < len(segments) - 1:
            expected.append(torch.zeros(pause, expected[-1].shape[1]))
    stream = voice.stream(TEXT)
    chunks = list(stream)
    assert [c.start for c in chunks] == [0, *(c.end for c in chunks[:-1])]  # contiguous across segments
    assert torch.equal(torch.cat([c.frames for c in chunks]), torch.cat(expected))
    assert [s.text for s in stream.segments] == segments
    assert [s.start for s in stream.segments[1:]] == [s.end + pause for s in stream.segments[:-1]]
    assert stream.segments[-1].end == chunks[-1].end
    assert torch.equal(voice.synthesize(TEXT), torch.cat(expected))


def test_one_sentence_streams_as_before(voice: Voice) -> None:
    text = "Hello, world."
    alone = list(voice.stream_utterance(voice.encode(text)))
    streamed = list(voice.stream(text))
    assert [c.start for c in streamed] == [c.start for c in alone]
    assert all(torch.equal(a.frames, b.frames) for a, b in zip(alone, streamed, strict=True))


def test_the_next_segment_is_prepared_while_the_current_one_streams(
    voice: Voice, counting: CountingFrontend
) -> None:
    stream = voice.stream(TEXT)
    assert counting.calls == ["Dr. Smith paid three dollars."]  # the first sentence, before any chunk
    counting.called.clear()
    next(stream)
    assert counting.called.wait(timeout=60), "the look-ahead never asked for the second sentence"
    assert stream.current == 0 and len(stream.segments) == 1  # segment 0 is still streaming
    assert counting.calls[1] == "He left at noon!" and counting.threads[1] == "ttsint-lookahead"
    rest = list(stream)
    assert len(stream.segments) == 5 and stream.prepared_ahead == 4
    assert rest and not stream.lookahead_running


class ThreadRecorder(StreamableBlock):
    """Passes chunks through, noting which thread made each one."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        assert upstream is not None
        for chunk in upstream:
            self.threads.append(threading.current_thread().name)
            yield chunk


def test_the_first_chunk_of_each_later_segment_is_made_ahead(voice: Voice) -> None:
    recorder = ThreadRecorder()
    voice.block.stack.append(recorder)
    stream = voice.stream(TEXT)
    played = [chunk for chunk in stream if stream.current is not None]
    assert len(recorder.threads) == len(played)
    # Exactly one chunk per later segment (its first) was made by the look-ahead thread.
    assert recorder.threads.count("ttsint-lookahead") == len(stream.segments) - 1 == 4
    assert recorder.threads[0] == "MainThread"


def test_closing_after_one_chunk_stops_the_look_ahead(voice: Voice, counting: CountingFrontend) -> None:
    stream = voice.stream(TEXT * 20)
    next(stream)
    stream.close()
    assert not stream.lookahead_running
    calls, prepared = len(counting.calls), stream.prepared_ahead
    assert calls <= 2 and prepared <= 1  # at most one sentence was taken ahead of the one playing
    with pytest.raises(StopIteration):
        next(stream)
    assert (len(counting.calls), stream.prepared_ahead) == (calls, prepared)


def test_dropping_an_unfinished_stream_stops_the_look_ahead(voice: Voice) -> None:
    stream = voice.stream(TEXT * 5)
    next(stream)
    ahead = stream._ahead.thread
    del stream
    ahead.join(timeout=60)
    assert not ahead.is_alive()


def test_an_error_in_a_later_sentence_is_raised_in_the_consumer(voice: Voice) -> None:
    stream = voice.stream("First one. Second one. Third @ one.")
    with pytest.raises(FrontendError, match="cannot say the character"):
        for _ in stream:
            pass
    assert [s.text for s in stream.segments] == ["First one.", "Second one."]
    assert not stream.lookahead_running


def test_the_stream_is_a_context_manager(voice: Voice) -> None:
    with voice.stream(TEXT) as stream:
        assert isinstance(stream, SpeechStream)
        next(stream)
    assert not stream.lookahead_running
