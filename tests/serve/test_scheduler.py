"""The scheduler on plain generators: deadline order, backpressure, cancellation, capacity, errors."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import torch
import ttsint
from ttsint_serve.scheduler import CapacityError, Scheduler, SynthesisStream


class Gate:
    """Holds up the generators that pass it, once closed, in the middle of a step, until it opens."""

    def __init__(self) -> None:
        self.closed, self.holding, self.opened = threading.Event(), threading.Event(), threading.Event()

    def passing(self) -> None:
        if self.closed.is_set():
            self.holding.set()
            assert self.opened.wait(60), "the gate was never opened"


def chunks(label: str, log: list[str], count: int | None = None, fail_at: int | None = None,
           closed: threading.Event | None = None, gate: Gate | None = None) -> Iterator[ttsint.Chunk]:
    """``count`` chunks of 10 samples (forever if None), logging each step under ``label``."""
    i = 0
    try:
        while count is None or i < count:
            if fail_at is not None and i == fail_at:
                raise ValueError(f"{label} broke at chunk {i}")
            if gate is not None:
                gate.passing()
            log.append(label)
            yield ttsint.Chunk(frames=torch.zeros(10, 1), start=10 * i)
            i += 1
    finally:
        if closed is not None:
            closed.set()


async def until(predicate: object, timeout: float = 120.0) -> None:
    """Wait for a condition the workers make true (an event, not a measured duration)."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():  # type: ignore[operator]
                await asyncio.sleep(0.001)
    except TimeoutError:
        raise AssertionError(f"gave up after {timeout} s waiting for {predicate}") from None


async def drain(stream: SynthesisStream) -> int:
    return len([chunk async for chunk in stream])


def test_a_new_stream_is_served_before_long_ones_get_another_step() -> None:
    async def main() -> None:
        log: list[str] = []
        gate = Gate()
        scheduler = Scheduler(workers=1, max_streams=8)
        # Each chunk is a second of audio (10 frames at 10 per second): the long streams run far ahead.
        longs = [scheduler.open(lambda n=n: chunks(f"long{n}", log, gate=gate), f"long{n}", frame_rate=10)
                 for n in range(4)]
        readers = [asyncio.create_task(drain(s)) for s in longs]
        # The long streams take turns by deadline: wait for every stream's 20, rather than count them at a
        # moment (a step the OS or the GIL paused shifts the turns).
        await until(lambda: len(log) >= 200 and all(log.count(f"long{n}") > 20 for n in range(4)))
        # `short` is queued while the worker is held inside a long step, so the log cannot grow
        # between counting it and queueing `short` (on a loaded machine, many steps could).
        gate.closed.set()
        await until(gate.holding.is_set)
        opened_at = len(log)
        short = scheduler.open(lambda: chunks("short", log, count=3), "short")
        gate.opened.set()
        assert await drain(short) == 3
        # With one worker, at most the step already running when `short` was queued comes first.
        assert log.index("short", opened_at) - opened_at <= 1
        for stream in longs:
            stream.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        scheduler.close()

    asyncio.run(main())


def test_an_unread_stream_parks_after_its_buffer_fills() -> None:
    async def main() -> None:
        log: list[str] = []
        scheduler = Scheduler(workers=2, max_streams=4, buffer_chunks=3)
        stream = scheduler.open(lambda: chunks("s", log), "s")
        await until(lambda: stream._state == "parked")
        assert stream.chunks_made == 3 and len(log) == 3
        assert await stream.next() is not None  # taking one lets it make one more
        await until(lambda: stream._state == "parked" and stream.chunks_made == 4)
        stream.cancel()
        await until(lambda: stream.finished)
        scheduler.close()

    asyncio.run(main())


def test_cancelling_closes_the_generator_and_frees_the_slot() -> None:
    async def main() -> None:
        closed = threading.Event()
        scheduler = Scheduler(workers=2, max_streams=1)
        stream = scheduler.open(lambda: chunks("s", [], closed=closed), "s")
        assert await stream.next() is not None
        with pytest.raises(CapacityError, match="--max-streams"):
            scheduler.open(lambda: chunks("t", []), "t")
        stream.cancel()
        await until(lambda: stream.finished)
        assert closed.is_set() and stream.cancelled and scheduler.active == 0
        assert await stream.next() is None
        other = scheduler.open(lambda: chunks("t", [], count=2), "t")
        assert await drain(other) == 2
        scheduler.close()

    asyncio.run(main())


def test_a_failing_stream_delivers_its_chunks_then_raises_and_others_go_on() -> None:
    async def main() -> None:
        log: list[str] = []
        scheduler = Scheduler(workers=2, max_streams=4)
        bad = scheduler.open(lambda: chunks("bad", log, count=5, fail_at=2), "bad")
        good = scheduler.open(lambda: chunks("good", log, count=5), "good")
        got = [await bad.next(), await bad.next()]
        assert all(c is not None for c in got)
        with pytest.raises(ValueError, match="broke at chunk 2"):
            await bad.next()
        assert await drain(good) == 5
        assert scheduler.active == 0 and isinstance(bad.error, ValueError)
        scheduler.close()

    asyncio.run(main())


def test_counts_and_callbacks() -> None:
    async def main() -> None:
        made: list[int] = []
        done = threading.Event()
        scheduler = Scheduler(workers=1, on_chunk=lambda stream, chunk: made.append(len(chunk)))
        stream = scheduler.open(lambda: chunks("s", [], count=4), "s")
        stream.add_done_callback(lambda s: done.set())
        assert await drain(stream) == 4
        assert done.is_set()  # done-callbacks run before the consumer sees the end
        assert made == [10] * 4 and stream.samples_made == 40 and stream.first_chunk_at is not None
        assert stream.finished_at is not None
        assert stream.finished_at >= stream.first_chunk_at >= stream.opened_at
        scheduler.close()

    asyncio.run(main())


def test_a_stream_about_to_run_dry_goes_before_one_with_audio_in_hand() -> None:
    async def main() -> None:
        log: list[str] = []
        scheduler = Scheduler(workers=1, max_streams=4, buffer_chunks=1000)
        # "ahead" makes 10 s of audio per chunk, "behind" 1 ms: after a chunk each, behind runs dry first.
        ahead = scheduler.open(lambda: chunks("ahead", log), "ahead", frame_rate=1)
        behind = scheduler.open(lambda: chunks("behind", log, count=40), "behind", frame_rate=10_000)
        await until(lambda: log.count("behind") == 40 and log.count("ahead") >= 2)
        # Every one of behind's chunks came before ahead's second: ahead had 10 s of audio in hand.
        last_behind = max(i for i, label in enumerate(log) if label == "behind")
        assert log.index("ahead", log.index("ahead") + 1) > last_behind, log[:50]
        ahead.cancel()
        await drain(behind)
        scheduler.close()

    asyncio.run(main())


def test_admission_by_measured_cost_refuses_with_retry_after_and_max_streams_stays_a_cap() -> None:
    async def main() -> None:
        scheduler = Scheduler(workers=1, max_streams=50, headroom=0.8)

        def slow(label: str, count: int | None = None) -> Iterator[ttsint.Chunk]:
            for chunk in chunks(label, [], count=count):
                time.sleep(0.02)  # 20 ms of work per 100 ms of audio: 0.2 worker-seconds per audio second
                yield chunk

        warm = scheduler.open(lambda: slow("w", count=20), "v", frame_rate=100)
        assert await drain(warm) == 20
        cost = scheduler.cost("v")
        assert cost is not None and 0.19 < cost < 0.4, cost  # sleeps overshoot on a loaded machine
        fits = int(0.8 / cost)
        streams = []
        with pytest.raises(CapacityError, match="measured capacity") as refused:
            for n in range(fits + 1):
                streams.append(scheduler.open(lambda n=n: slow(f"s{n}"), "v", frame_rate=100))
        assert len(streams) == fits and refused.value.retry_after >= 1
        assert scheduler.load <= 0.8 + 1e-9
        other = Scheduler(workers=1, max_streams=2, headroom=None)
        kept = [other.open(lambda: chunks("x", []), "x", frame_rate=10) for _ in range(2)]
        with pytest.raises(CapacityError, match="--max-streams"):
            other.open(lambda: chunks("x", []), "x", frame_rate=10)
        for stream in streams + kept:
            stream.cancel()
        scheduler.close()
        other.close()

    asyncio.run(main())


def test_a_stream_behind_its_listener_makes_the_scheduler_refuse_new_ones() -> None:
    async def main() -> None:
        scheduler = Scheduler(workers=1, max_streams=8, buffer_chunks=1000, headroom=0.8)

        def lagging() -> Iterator[ttsint.Chunk]:
            for chunk in chunks("lag", []):
                time.sleep(0.01)  # 10 ms of work per 1 ms of audio: it falls behind at once
                yield chunk

        stream = scheduler.open(lagging, "lag", frame_rate=10_000)
        await until(lambda: stream.chunks_made >= 5)
        with pytest.raises(CapacityError, match="behind") as refused:
            scheduler.open(lambda: chunks("new", []), "new", frame_rate=10_000)
        assert refused.value.retry_after >= 1
        stream.cancel()
        await until(lambda: stream.finished)
        assert await drain(scheduler.open(lambda: chunks("new", [], count=2), "new", frame_rate=10)) == 2
        scheduler.close()

    asyncio.run(main())


def test_a_stream_admitted_in_a_burst_is_refused_at_its_first_step_once_a_listener_has_run_dry() -> None:
    """Admission again when a worker takes a new stream up: opened while every listener had audio in
    hand, it fails with CapacityError before any chunk once a running stream has fallen behind."""
    async def main() -> None:
        scheduler = Scheduler(workers=1, max_streams=8, buffer_chunks=1000, headroom=0.8)
        gate = Gate()
        gate.closed.set()

        def running() -> Iterator[ttsint.Chunk]:
            yield ttsint.Chunk(frames=torch.zeros(10, 1), start=0)  # 1 s of audio at 10 frames a second
            gate.passing()  # the next step outlasts that second
            for i in range(1000):
                yield ttsint.Chunk(frames=torch.zeros(1, 1), start=10 + i)

        first = scheduler.open(running, "run", frame_rate=10)
        await until(lambda: gate.holding.is_set())
        made_at = first.first_chunk_at
        assert made_at is not None
        late = scheduler.open(lambda: chunks("late", [], count=3), "late", frame_rate=10)  # admitted now
        await asyncio.sleep(max(0.0, made_at + 1.3 - time.perf_counter()))
        gate.opened.set()  # the running stream's second chunk comes 0.3 s after its listener ran dry
        with pytest.raises(CapacityError, match="behind"):
            await late.next()
        assert late.chunks_made == 0 and scheduler.refused_late == 1
        first.cancel()
        await until(lambda: first.finished)
        assert await drain(scheduler.open(lambda: chunks("new", [], count=2), "new", frame_rate=10)) == 2
        scheduler.close()

    asyncio.run(main())


def test_lead_paces_a_stream_read_as_fast_as_it_comes() -> None:
    """With ``lead``, a stream read at once gets no more than about ``lead`` seconds beyond real time."""
    async def main() -> None:
        scheduler = Scheduler(workers=1, max_streams=4, buffer_chunks=1000, lead=0.3)
        stream = scheduler.open(lambda: chunks("paced", [], count=30), "paced", frame_rate=100)  # 0.1 s each
        ahead = 0.0
        async for _ in stream:
            first = stream.first_chunk_at
            assert first is not None
            ahead = max(ahead, stream.audio_made - (time.perf_counter() - first))
        elapsed = time.perf_counter() - first
        assert ahead <= 0.3 + 0.1 + 1e-6, ahead  # lead plus the chunk that crossed it
        assert elapsed >= 3.0 - 0.3 - 0.1 - 0.05, elapsed  # 3 s of audio, at most lead + a chunk early
        scheduler.close()

    asyncio.run(main())


async def queued_together(scheduler: Scheduler, open_streams: object) -> list[SynthesisStream]:
    """The streams ``open_streams()`` opens while the only worker is held inside another stream's step, so
    they are all queued when the worker next takes one up."""
    gate = Gate()
    gate.closed.set()

    def held() -> Iterator[ttsint.Chunk]:
        gate.passing()
        yield ttsint.Chunk(frames=torch.zeros(10, 1), start=0)

    blocker = scheduler.open(held, "other")
    await until(gate.holding.is_set)
    streams = open_streams()  # type: ignore[operator]
    gate.opened.set()
    assert await drain(blocker) == 1
    return streams


def test_streams_of_one_voice_step_together_with_their_network_calls_batched() -> None:
    """With batch=4, four new streams of one voice queued together take their steps as one group: each
    network call serves all four, and each stream gets what it gets alone (batch=1)."""
    from pathlib import Path

    import numpy as np

    class Affine(ttsint.Executable):
        def __init__(self, network: ttsint.Network) -> None:
            super().__init__(network, None)  # type: ignore[arg-type]
            self.batches: list[int] = []

        def execute(self, tensors):  # type: ignore[no-untyped-def]
            self.batches.append(int(tensors["x"].shape[0]))
            return [2 * tensors["x"] + 1]

    net = ttsint.Network(name="affine", role="decoder", inputs=["x"], outputs=["y"], path=Path("a.onnx"),
                         batch=True)
    net.executable = executable = Affine(net)

    def voice(seed: int) -> Iterator[ttsint.Chunk]:
        frames = np.random.default_rng(seed).normal(size=(30, 1)).astype(np.float32)
        for start in range(0, 30, 10):
            yield ttsint.Chunk(frames=net.run({"x": frames[start:start + 10]})["y"], start=start)

    async def run(batch: int) -> list[np.ndarray]:
        scheduler = Scheduler(workers=1, max_streams=8, batch=batch)
        streams = await queued_together(scheduler, lambda: [scheduler.open(lambda n=n: voice(n), "voice")
                                                            for n in range(4)])
        got = []
        for stream in streams:
            got.append(np.concatenate([c.frames async for c in stream]))
        scheduler.close()
        return got

    alone = asyncio.run(run(1))
    assert executable.batches == [1] * 12
    executable.batches.clear()
    together = asyncio.run(run(4))
    assert executable.batches[0] == 4, executable.batches  # the first steps, at least, as one call each
    for a, b in zip(alone, together, strict=True):
        np.testing.assert_allclose(b, a, atol=1e-5)


def test_en_rms_streams_stepped_together_equal_each_alone() -> None:
    """en-rms on the scheduler with batch=4: four streams of different texts queued at once step together,
    their decoder windows of one shape made as one call (batch = true in its networks table), and each
    stream's mel equals the same stream made with batch=1 within 1e-5.

    The mel, not the audio: PGHI integrates phase along a heap ordered by magnitude, so the decoder's
    batched mel (within 6e-6) can reorder it and move samples by up to 0.1 (benchmarks/RESULTS.md)."""
    import numpy as np

    texts = ["The train leaves at noon.", "Call me back when you can.", "See you soon, my friend.",
             "Bring the blue umbrella today."]
    addon = ttsint.load_addon("en-rms")
    assert addon.networks["decoder"].batch, "en-rms's decoder is not declared batch = true"
    voice = ttsint.Voice(addon, [addon.stack[0]])  # the acoustic model: text to mel
    rate = addon.sample_rate / addon.hop_length

    async def run(batch: int) -> tuple[list[np.ndarray], tuple[int, int]]:
        scheduler = Scheduler(workers=1, max_streams=8, batch=batch)
        streams = await queued_together(scheduler, lambda: [
            scheduler.open(lambda t=t: voice.stream(t, lookahead=False), "en-rms", frame_rate=rate)
            for t in texts])
        got = []
        for stream in streams:
            got.append(np.concatenate([ttsint.to_numpy(c.frames) async for c in stream]))
        scheduler.close()
        return got, scheduler.batched_calls

    alone, (calls, batched) = asyncio.run(run(1))
    assert (calls, batched) == (0, 0)
    together, (calls, batched) = asyncio.run(run(4))
    assert batched > 0, f"{calls} network calls for the streams stepped together, none batched"
    for text, a, b in zip(texts, alone, together, strict=True):
        assert a.shape == b.shape, text
        np.testing.assert_allclose(b, a, atol=1e-5, err_msg=text)
    voice.close()


def test_a_first_chunk_small_beside_its_work_is_held_until_more_audio_is_made() -> None:
    """A stream whose first chunks are short beside the work they took (Piper's first window is 23 ms of
    audio) reaches its listener only once four chunks are made; one whose first chunk covers its work many
    times over (en-rms's fifth of a second) is sent at once."""
    async def main() -> None:
        scheduler = Scheduler(workers=1, max_streams=4, buffer_chunks=100)

        def small() -> Iterator[ttsint.Chunk]:
            for i in range(10):
                time.sleep(0.002)  # 2 ms of work for 1 ms of audio
                yield ttsint.Chunk(frames=torch.zeros(1, 1), start=i)

        held = scheduler.open(small, "small", frame_rate=1000)
        assert await held.next() is not None
        assert held.chunks_made >= 4  # the first audio left with the fourth chunk, not before
        assert await drain(held) == 9
        assert scheduler.longest_step("small") > 0 and scheduler.longest_step("unknown") == 0

        gate = Gate()
        gate.closed.set()

        def large() -> Iterator[ttsint.Chunk]:
            yield ttsint.Chunk(frames=torch.zeros(10, 1), start=0)  # a second of audio, at once
            gate.passing()
            yield ttsint.Chunk(frames=torch.zeros(10, 1), start=10)

        sent = scheduler.open(large, "large", frame_rate=10)
        assert await sent.next() is not None
        await until(gate.holding.is_set)
        assert sent.chunks_made == 1  # the worker is inside the second step: the first went on its own
        gate.opened.set()
        assert await drain(sent) == 1
        scheduler.close()

    asyncio.run(main())


def test_a_held_stream_that_ends_or_fails_still_delivers_its_chunks() -> None:
    async def main() -> None:
        scheduler = Scheduler(workers=1, max_streams=4, headroom=None)  # too slow to admit twice otherwise

        def short(fail: bool) -> Iterator[ttsint.Chunk]:
            time.sleep(0.01)  # 10 ms of work for 1 ms of audio: held
            yield ttsint.Chunk(frames=torch.zeros(1, 1), start=0)
            if fail:
                raise ValueError("broke after one chunk")

        ended = scheduler.open(lambda: short(False), "v", frame_rate=1000)
        assert await drain(ended) == 1 and ended.first_chunk_at is not None
        failed = scheduler.open(lambda: short(True), "v", frame_rate=1000)
        assert await failed.next() is not None
        with pytest.raises(ValueError, match="broke after one chunk"):
            await failed.next()
        scheduler.close()

    asyncio.run(main())


def test_a_voice_slower_than_real_time_alone_is_refused_until_its_measure_is_stale(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One stream's steps run one at a time: a voice needing more than ``headroom`` of a worker per audio
    second is refused even with nothing else open, and tried again once its measure is old."""
    from ttsint_serve import scheduler as module

    async def main() -> None:
        scheduler = Scheduler(workers=2, max_streams=8, headroom=0.8)

        def slow(count: int) -> Iterator[ttsint.Chunk]:
            for chunk in chunks("slow", [], count=count):
                time.sleep(0.01)  # 10 ms of work per 1 ms of audio
                yield chunk

        for _ in range(2):  # the first stream after start-up may run cold: two streams' evidence is needed
            assert await drain(scheduler.open(lambda: slow(8), "slow", frame_rate=10_000)) == 8
        cost = scheduler.cost("slow")
        assert cost is not None and cost > 1, cost
        with pytest.raises(CapacityError, match="slower than real time") as refused:
            scheduler.open(lambda: slow(8), "slow", frame_rate=10_000)
        assert 1 <= refused.value.retry_after <= 30
        other = scheduler.open(lambda: chunks("fast", [], count=2), "fast", frame_rate=10)
        assert await drain(other) == 2  # other voices go on
        monkeypatch.setattr(module, "_STALE", 0.0)
        probe = scheduler.open(lambda: slow(2), "slow", frame_rate=10_000)  # measured again
        assert scheduler.cost("slow") is None and "slow" not in scheduler._started
        assert await drain(probe) == 2
        scheduler.close()
        unlimited = Scheduler(workers=1, headroom=None)  # headroom None admits whatever the costs
        unlimited._costs["slow"] = [10.0, 1.0]
        unlimited.open(lambda: slow(1), "slow", frame_rate=10_000).cancel()
        unlimited.close()

    asyncio.run(main())


def test_a_running_stream_of_a_voice_with_long_steps_comes_due_earlier() -> None:
    """Two running streams with the same audio in hand: the one whose voice's longest step (a sentence's
    readying) is longer is queued that much earlier, so that step starts before its listener runs dry."""
    async def main() -> None:
        scheduler = Scheduler(workers=1, max_streams=8, reserve=1.0)  # not started: nothing takes the queue
        loop = asyncio.get_running_loop()
        with scheduler._lock:
            scheduler._longest.update(quick=0.01, slow=0.5)
            for label in ("quick", "slow"):
                stream = SynthesisStream(scheduler, lambda: iter(()), label, loop, frame_rate=10)
                stream.first_chunk_at, stream.samples_made = 100.0, 10  # 1 s of audio from t = 100
                scheduler._push(stream)
            keys = {entry[2].label: entry[0] for entry in scheduler._queue}
        assert keys == {"quick": pytest.approx(101 - 1.0 - 0.01), "slow": pytest.approx(101 - 1.0 - 0.5)}

    asyncio.run(main())


def test_a_streams_start_is_spread_over_its_usual_length_in_its_voices_cost() -> None:
    """The steps before a stream's first audio (front end, first sentence's encoders) count in its voice's
    cost once per stream, spread over a stream's usual length, not as steps among the running ones: a
    burst's starts, all at once, would otherwise make the voice seem many times dearer."""
    async def main() -> None:
        scheduler = Scheduler(workers=1, max_streams=4)

        def voice() -> Iterator[ttsint.Chunk]:
            time.sleep(0.05)  # the start: 50 ms of work for half a second of audio
            for i in range(10):
                yield ttsint.Chunk(frames=torch.zeros(5, 1), start=5 * i)  # then 9 steps of no work

        assert await drain(scheduler.open(voice, "v", frame_rate=10)) == 10
        cost, (start, start_audio) = scheduler.cost("v"), scheduler._starts["v"]
        assert start >= 0.05 and start_audio < 5.0
        assert cost is not None and start / 5 <= cost < start / 5 + 0.01, cost  # spread over 5 s
        with scheduler._lock:
            scheduler._starts["w"], scheduler._costs["w"] = [1.0, 2.0], [1.0, 10.0]
            scheduler._lengths["w"] = 12.0
            assert scheduler._cost_of("w") == pytest.approx((1.0 + 0.1 * 10.0) / 12.0)
            del scheduler._lengths["w"]  # no stream of it ended yet: its start is all that is known
            assert scheduler._cost_of("w") == pytest.approx(0.5)
        scheduler.close()

    asyncio.run(main())


def test_a_stream_still_in_its_first_step_counts_when_the_next_is_taken_up() -> None:
    """At a stream's first step, admission counts every stream a worker took up before it, those still
    making their first chunk among them (a Kokoro first step is a whole sentence): not only those whose
    audio has begun."""
    async def main() -> None:
        scheduler = Scheduler(workers=2, max_streams=8, buffer_chunks=2, headroom=0.8)  # room: 1.6 workers
        playing = scheduler.open(lambda: chunks("playing", []), "v", frame_rate=10)  # 1 s of audio a chunk
        await until(lambda: playing._state == "parked")
        starting, blocker = Gate(), Gate()
        starting.closed.set()
        blocker.closed.set()

        def held(gate: Gate) -> Iterator[ttsint.Chunk]:
            gate.passing()
            yield ttsint.Chunk(frames=torch.zeros(10, 1), start=0)

        first = scheduler.open(lambda: held(starting), "v", frame_rate=10)
        await until(starting.holding.is_set)  # one worker inside first's first step
        other = scheduler.open(lambda: held(blocker), "other")
        await until(blocker.holding.is_set)  # the other worker held too
        late = scheduler.open(lambda: chunks("late", [], count=2), "v", frame_rate=10)  # fits by costs so far
        with scheduler._lock:  # the voice turns out to cost 0.6 of a worker per audio second
            scheduler._costs["v"], scheduler._starts["v"] = [0.6, 1.0], [0.6, 1.0]
        blocker.opened.set()
        with pytest.raises(CapacityError, match="measured capacity"):  # playing + first + late: 1.8 > 1.6
            await late.next()
        assert late.chunks_made == 0 and scheduler.refused_late == 1 and first.first_chunk_at is None
        starting.opened.set()
        assert await drain(first) == 1 and await drain(other) == 1
        playing.cancel()
        scheduler.close()

    asyncio.run(main())
