"""`ttsint serve --wyoming`: the Wyoming package's own async client against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import signal
import socket
import subprocess
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from ttsint_serve.wyoming import SentenceBuffer
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from .conftest import (
    DEMO,
    KOKORO,
    LONG_TEXT,
    PIPER,
    PORT_ATTEMPTS,
    START_TIMEOUT,
    Server,
    demo,
    free_port,
    port_taken,
    start_server,
    ttsint_command,
    voice_or_skip,
)

T = TypeVar("T")
READ_TIMEOUT = 300.0
"""How long one event may take before a test fails: a bound for a hung server, not a speed under test."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, int]]:
    """HTTP and Wyoming from one process: two demo voices, one declaring its language in its config."""
    srv = start_server(tmp_path_factory.mktemp("wyoming-logs"),
                       "--addon", demo("demo-a"), "--addon", demo("demo-b", "language=en_US"),
                       "--workers", "2", "--max-chars", "3000", wyoming=True)
    assert srv.wyoming_port is not None
    yield srv, srv.wyoming_port
    srv.stop()


def run(coroutine: Awaitable[T]) -> T:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


async def read(client: AsyncTcpClient) -> Event | None:
    return await asyncio.wait_for(client.read_event(), READ_TIMEOUT)


async def read_group(client: AsyncTcpClient) -> tuple[AudioStart, list[AudioChunk], AudioStop]:
    """One answer: ``audio-start``, the chunks, ``audio-stop``; anything else fails the test."""
    first = await read(client)
    assert first is not None and AudioStart.is_type(first.type), first
    chunks = []
    while True:
        event = await read(client)
        assert event is not None, "the server closed the connection mid-answer"
        if AudioStop.is_type(event.type):
            return AudioStart.from_event(first), chunks, AudioStop.from_event(event)
        assert AudioChunk.is_type(event.type), event
        chunks.append(AudioChunk.from_event(event))


def test_sentences_are_handed_out_once_the_next_one_begins() -> None:
    buffer = SentenceBuffer("en")
    pieces = ["Dr", ". Smith went ", "home at 3.5 ", "p.m. today. He", " left", "! Then", " what? ", "Fine"]
    out = [buffer.add(piece) for piece in pieces]
    # "Dr." and "p.m." do not end sentences; a sentence is out as soon as the next has begun.
    assert out == [[], [], [], ["Dr. Smith went home at 3.5 p.m. today."], [], ["He left!"], [],
                   ["Then what?"]]
    assert buffer.finish() == "Fine" and buffer.finish() == ""


def test_describe_lists_every_voice_as_a_tts_program(served: tuple[Server, int]) -> None:
    async def main() -> Info:
        async with AsyncTcpClient("127.0.0.1", served[1]) as client:
            await client.write_event(Describe().event())
            event = await read(client)
            assert event is not None and Info.is_type(event.type), event
            return Info.from_event(event)

    info = run(main())
    [program] = info.tts
    assert program.supports_synthesize_streaming and program.installed and program.version
    voices = {v.name: v for v in program.voices}
    assert set(voices) == {"demo-a", "demo-b"}
    # demo-b declares language = "en_US"; demo-a declares none, so its front end's language is given.
    assert voices["demo-b"].languages == ["en_US"] and voices["demo-a"].languages == ["en"]
    for voice in voices.values():
        assert voice.version == "0.1.0" and voice.installed
        assert voice.attribution.name == "ttsint-encoders"  # the distribution that ships the demo addon
        assert voice.description and "demo" in voice.description.lower()


def test_audio_chunks_arrive_before_the_last_one_is_made(served: tuple[Server, int]) -> None:
    # The client stops reading at the first audio-chunk and asks how many chunks the server has made
    # (a counter bumped as each chunk is made). LONG_TEXT makes about twice what the kernel buffers
    # between the two, so a server that streams cannot have made the last chunk by then.
    server, port = served

    async def main() -> tuple[float, AudioStart, list[AudioChunk], AudioStop]:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(LONG_TEXT, voice=SynthesizeVoice(name="demo-a")).event())
            start = await read(client)
            assert start is not None and AudioStart.is_type(start.type), start
            first = await read(client)
            assert first is not None and AudioChunk.is_type(first.type), first
            made = server.metric("ttsint_chunks_total", voice="demo-a") - before
            assert server.metric("ttsint_active_streams") == 1
            chunks = [AudioChunk.from_event(first)]
            while True:
                event = await read(client)
                assert event is not None
                if AudioStop.is_type(event.type):
                    return made, AudioStart.from_event(start), chunks, AudioStop.from_event(event)
                chunks.append(AudioChunk.from_event(event))

    before = server.metric("ttsint_chunks_total", voice="demo-a")
    made_at_first_chunk, start, chunks, stop = run(main())
    made_in_all = server.metric("ttsint_chunks_total", voice="demo-a") - before
    assert 1 <= made_at_first_chunk < made_in_all and made_in_all > 100
    assert len(chunks) == made_in_all  # one audio-chunk per chunk made: nothing gathered on the way
    assert (start.rate, start.width, start.channels) == (16000, 2, 1)
    samples = sum(len(c.audio) for c in chunks) // 2
    assert all(c.rate == 16000 for c in chunks) and samples > 16000
    assert stop.timestamp == 1000 * samples // 16000
    assert [c.timestamp for c in chunks] == sorted(c.timestamp for c in chunks)  # type: ignore[type-var]


def test_streamed_text_is_spoken_a_sentence_at_a_time(served: tuple[Server, int]) -> None:
    # Each sentence's audio must arrive before the client sends the text that follows it: the server
    # speaks a sentence once the next one has begun, without waiting for synthesize-stop.
    pieces = ["The first sentence is here. The sec", "ond one follows. And", " a third ends it."]
    whole = "".join(pieces)

    async def main() -> list[tuple[AudioStart, list[AudioChunk], AudioStop]]:
        async with AsyncTcpClient("127.0.0.1", served[1]) as client:
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="demo-b")).event())
            await client.write_event(SynthesizeChunk(pieces[0]).event())
            groups = [await read_group(client)]  # "The first sentence is here." before piece 2 is sent
            await client.write_event(SynthesizeChunk(pieces[1]).event())
            groups.append(await read_group(client))  # "The second one follows."
            # Home Assistant also sends the whole text as a plain synthesize, for servers that do not
            # stream; a streaming server ignores it (else a fourth answer would come before the end).
            await client.write_event(Synthesize(whole, voice=SynthesizeVoice(name="demo-b")).event())
            await client.write_event(SynthesizeChunk(pieces[2]).event())
            await client.write_event(SynthesizeStop().event())
            groups.append(await read_group(client))  # "And a third ends it.", spoken at synthesize-stop
            end = await read(client)
            assert end is not None and SynthesizeStopped.is_type(end.type), end
            return groups

    groups = run(main())
    assert len(groups) == 3
    for start, chunks, stop in groups:
        assert start.rate == 16000 and chunks and stop.timestamp
    # Sentences after the first open with the voice's pause between segments (0.25 s by default).
    assert groups[0][1][0].audio.strip(b"\0") and not groups[1][1][0].audio.strip(b"\0")
    assert len(groups[1][1][0].audio) == 2 * 4000


@pytest.mark.parametrize("streaming", [False, True], ids=["synthesize", "synthesize-start"])
def test_an_unknown_voice_gets_an_error_event(served: tuple[Server, int], streaming: bool) -> None:
    async def main() -> tuple[Error, Event | None, Info]:
        async with AsyncTcpClient("127.0.0.1", served[1]) as client:
            voice = SynthesizeVoice(name="nobody")
            if streaming:  # refused at the start, before any text is sent
                await client.write_event(SynthesizeStart(voice=voice).event())
            else:
                await client.write_event(Synthesize("Hello there.", voice=voice).event())
            event = await read(client)
            assert event is not None and Error.is_type(event.type), event
            after = await read(client)  # the connection closes: clients waiting for audio-stop stop too
        async with AsyncTcpClient("127.0.0.1", served[1]) as client:  # the server serves on
            await client.write_event(Describe().event())
            info = await read(client)
            assert info is not None
        return Error.from_event(event), after, Info.from_event(info)

    error, after, info = run(main())
    assert error.code == "voice-not-found"
    assert "'nobody'" in error.text and "demo-a, demo-b" in error.text
    assert after is None
    assert len(info.tts[0].voices) == 2


def test_bad_input_gets_an_error_and_the_server_serves_on(served: tuple[Server, int]) -> None:
    async def main() -> tuple[list[Event | None], list[Event | None], Event | None]:
        answers = []
        for bad in (Event("synthesize", data={"voice": {"name": "demo-a"}}),  # no text
                    Synthesize("x" * 3001).event(),  # over --max-chars 3000
                    Synthesize("?!").event()):  # nothing to say
            async with AsyncTcpClient("127.0.0.1", served[1]) as client:
                await client.write_event(bad)
                answers.append([await read(client), await read(client)])
        reader, writer = await asyncio.open_connection("127.0.0.1", served[1])
        writer.write(b'{"no type here": 1}\n')  # not an event at all: the connection is dropped
        await writer.drain()
        dropped = await asyncio.wait_for(reader.read(), READ_TIMEOUT)
        writer.close()
        async with AsyncTcpClient("127.0.0.1", served[1]) as client:
            await client.write_event(Synthesize("Still here.").event())
            group = await read_group(client)
        return answers, dropped, group

    answers, dropped, group = run(main())
    codes = [Error.from_event(first).code for first, _ in answers]  # type: ignore[arg-type]
    assert codes == ["bad-request", "input-too-long", "nothing-to-say"]
    assert "'synthesize' event's text: missing (expected a string)" in Error.from_event(answers[0][0]).text  # type: ignore[arg-type]
    assert all(after is None for _, after in answers)
    assert "--max-chars" in Error.from_event(answers[1][0]).text  # type: ignore[arg-type]
    assert dropped == b""
    assert group[1]  # a default voice (the first served) spoke it


def test_two_clients_at_once(served: tuple[Server, int]) -> None:
    # Client A stops reading after its first chunk; client B is answered in full meanwhile, so one
    # connection never holds up another; then A's answer completes. A's text makes more audio than
    # the kernel buffers (see LONG_TEXT), so A's stream cannot have ended unread.
    server, port = served

    async def main() -> tuple[list[AudioChunk], list[AudioChunk], float]:
        async with AsyncTcpClient("127.0.0.1", port) as a, AsyncTcpClient("127.0.0.1", port) as b:
            await a.write_event(Synthesize(LONG_TEXT, voice=SynthesizeVoice(name="demo-a")).event())
            start = await read(a)
            first = await read(a)
            assert start is not None and first is not None and AudioChunk.is_type(first.type)
            await b.write_event(Synthesize(LONG_TEXT[:300], voice=SynthesizeVoice(name="demo-b")).event())
            _, b_chunks, _ = await read_group(b)
            active_after_b = server.metric("ttsint_active_streams")
            a_chunks = [AudioChunk.from_event(first)]
            while (event := await read(a)) is not None and not AudioStop.is_type(event.type):
                a_chunks.append(AudioChunk.from_event(event))
            assert event is not None
            return a_chunks, b_chunks, active_after_b

    a_chunks, b_chunks, active_after_b = run(main())
    assert active_after_b == 1  # A's stream was still open while B's ran to its end
    assert len(a_chunks) > 1 and len(b_chunks) > 1
    assert server.metric("ttsint_active_streams") == 0


def test_a_client_that_disconnects_cancels_its_stream(served: tuple[Server, int]) -> None:
    server, port = served
    before = server.metric("ttsint_chunks_total", voice="demo-b")
    cancelled = server.metric("ttsint_streams_cancelled_total", voice="demo-b")

    async def main() -> None:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(LONG_TEXT, voice=SynthesizeVoice(name="demo-b")).event())
            await read(client)
            chunk = await read(client)
            assert chunk is not None and AudioChunk.is_type(chunk.type)
            assert server.metric("ttsint_active_streams") == 1

    run(main())  # leaving the block closed the connection mid-answer
    server.wait_for(lambda: server.metric("ttsint_active_streams") == 0, "the stream to be cancelled")
    assert server.metric("ttsint_streams_cancelled_total", voice="demo-b") == cancelled + 1
    made = server.metric("ttsint_chunks_total", voice="demo-b") - before
    assert made < 400  # the whole text needs 500+ chunks (see LONG_TEXT): the generator was closed
    assert server.metric("ttsint_chunks_total", voice="demo-b") - before == made


class PortTaken(Exception):
    """The server exited because another process took its port between choosing and binding it."""


@pytest.mark.slow
def test_wyoming_alone_lets_a_running_synthesis_finish_on_sigterm(tmp_path: Path) -> None:
    # A shutdown timeout far beyond what the answer needs even on a loaded machine: the answer must
    # complete, so the default (30 s) would make the test depend on the machine's speed.
    shutdown_timeout = 600

    def launch(port: int, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            return subprocess.Popen([*ttsint_command(), "serve", "--no-http", "--addon", DEMO, "--wyoming",
                                     f"tcp://127.0.0.1:{port}", "--shutdown-timeout", str(shutdown_timeout)],
                                    stdout=out, stderr=subprocess.STDOUT)

    async def main(process: subprocess.Popen[bytes], port: int, log: Path) -> tuple[Info, list[AudioChunk]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT
        while True:  # the port opens after start-up, and describe answers once the voices have loaded
            if process.poll() == 1 and port_taken(log.read_text()):
                raise PortTaken
            assert process.poll() is None, log.read_text()
            assert loop.time() < deadline, "the Wyoming server never answered"
            try:
                async with AsyncTcpClient("127.0.0.1", port) as client:
                    await client.write_event(Describe().event())
                    event = await read(client)
                    assert event is not None
                    await client.write_event(Synthesize(LONG_TEXT[:600]).event())
                    start, first = await read(client), await read(client)
                    assert start is not None and first is not None and AudioChunk.is_type(first.type)
                    process.send_signal(signal.SIGTERM)  # mid-answer: the answer must still complete
                    chunks = [AudioChunk.from_event(first)]
                    while (chunk := await read(client)) is not None and AudioChunk.is_type(chunk.type):
                        chunks.append(AudioChunk.from_event(chunk))
                    assert chunk is not None and AudioStop.is_type(chunk.type), chunk
                    return Info.from_event(event), chunks
            except ConnectionRefusedError:
                await asyncio.sleep(0.2)

    for attempt in itertools.count(1):
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        process = launch(port, log)
        try:
            info, chunks = run(main(process, port, log))
            assert process.wait(120) == 0, log.read_text()
            break
        except PortTaken:
            if attempt == PORT_ATTEMPTS:
                raise
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert [v.name for v in info.tts[0].voices] == ["demo"] and len(chunks) > 10
    text = log.read_text()
    assert f"running syntheses get {shutdown_timeout}s to finish" in text and "Traceback" not in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--no-http"], "--no-http: with HTTP off and no --wyoming there is nothing to serve"),
        (["--wyoming", "http://127.0.0.1:10200"], "--wyoming: 'http://127.0.0.1:10200' names no address"),
        (["--wyoming", "tcp://127.0.0.1"], "give tcp://HOST:PORT"),
        (["--ray", "--wyoming", "tcp://127.0.0.1:10200"], "--wyoming: applies to the in-process server"),
    ],
    ids=["nothing-to-serve", "not-tcp", "no-port", "with-ray"],
)
def test_bad_wyoming_options_exit_1_with_one_paragraph(args: list[str], words: str) -> None:
    done = subprocess.run([*ttsint_command(), "serve", "--addon", DEMO, *args], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1
    assert words in done.stderr and "Traceback" not in done.stderr


def test_a_wyoming_port_in_use_is_reported() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = subprocess.run([*ttsint_command(), "serve", "--no-http", "--addon", DEMO, "--wyoming",
                               f"tcp://127.0.0.1:{taken.getsockname()[1]}"], capture_output=True, text=True,
                              timeout=300)
    assert done.returncode == 1
    assert "cannot listen on 127.0.0.1:" in done.stderr and "--wyoming port" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_every_architecture_is_announced_with_its_language(every_voice_server: Server) -> None:
    async def main() -> Info:
        async with AsyncTcpClient("127.0.0.1", every_voice_server.wyoming_port) as client:
            await client.write_event(Describe().event())
            event = await read(client)
            assert event is not None
            return Info.from_event(event)

    voices = {v.name: v for v in run(main()).tts[0].voices}
    ready = [name for name, status in every_voice_server.get("/readyz").json()["voices"].items()
             if status == "ready"]
    assert set(voices) == set(ready)
    for voice in voices.values():
        assert voice.languages and voice.languages[0][:2] == "en", voice


@pytest.mark.slow
def test_a_bad_kokoro_mix_gets_an_error_event_and_the_server_serves_on(every_voice_server: Server) -> None:
    """A mix is made when a request first names it; one the plugin refuses (a pack nobody has) is a
    voice-not-found error event naming the pack, never a dropped connection."""
    voice_or_skip(every_voice_server, KOKORO)

    async def main() -> tuple[Event | None, Event | None]:
        async with AsyncTcpClient("127.0.0.1", every_voice_server.wyoming_port) as client:
            voice = SynthesizeVoice(name="kokoro-af_heart*0.5+nobody_here*0.5")
            await client.write_event(Synthesize("Hello there.", voice=voice).event())
            refused = await read(client)
        async with AsyncTcpClient("127.0.0.1", every_voice_server.wyoming_port) as client:
            await client.write_event(Describe().event())
            return refused, await read(client)

    refused, info = run(main())
    assert refused is not None and Error.is_type(refused.type), refused
    error = Error.from_event(refused)
    assert error.code == "voice-not-found" and "nobody_here" in error.text, error
    assert info is not None and Info.is_type(info.type)


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["en-rms", PIPER, KOKORO])
def test_an_llm_like_trickle_is_spoken_as_it_comes_on_every_architecture(every_voice_server: Server,
                                                                         voice: str) -> None:
    """Text arrives 3 characters at a time, 20 ms apart (an LLM writing its answer). Once the second
    sentence has begun, the writer waits for the first sentence's audio before it writes on: the
    server must speak it from what it has (a server that waits for more text never answers)."""
    voice_or_skip(every_voice_server, voice)
    text = ("Turn on the lights. The kitchen ones and the ones in the hall, please, but leave the bedroom "
            "dark for now. Then play some quiet music in the living room, and set a timer for twenty "
            "minutes. Thank you.")  # 2 s of trickle after the first sentence
    pieces = [text[i:i + 3] for i in range(0, len(text), 3)]
    rate = every_voice_server.get("/v1/voices").json()
    native = next(v["native_sample_rate"] for v in rate["data"] if v["name"] == voice)

    async def main() -> tuple[int, int, list[tuple[AudioStart, list[AudioChunk], AudioStop]]]:
        async with AsyncTcpClient("127.0.0.1", every_voice_server.wyoming_port) as client:
            sent = 0
            heard = asyncio.Event()
            second_begins = (text.index(". ") + 3) // 3  # the piece with the second sentence's first letter

            async def trickle() -> None:
                nonlocal sent
                await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name=voice)).event())
                for piece in pieces:
                    await client.write_event(SynthesizeChunk(piece).event())
                    sent += 1
                    if sent == second_begins + 1:
                        await asyncio.wait_for(heard.wait(), READ_TIMEOUT)
                    await asyncio.sleep(0.02)
                await client.write_event(SynthesizeStop().event())

            writer = asyncio.create_task(trickle())
            first = await read(client)
            assert first is not None and AudioStart.is_type(first.type), first
            sent_at_first_audio = sent
            heard.set()
            groups = []
            chunks: list[AudioChunk] = []
            start = AudioStart.from_event(first)
            while True:
                event = await read(client)
                assert event is not None
                if AudioChunk.is_type(event.type):
                    chunks.append(AudioChunk.from_event(event))
                elif AudioStop.is_type(event.type):
                    groups.append((start, chunks, AudioStop.from_event(event)))
                elif AudioStart.is_type(event.type):
                    start, chunks = AudioStart.from_event(event), []
                elif SynthesizeStopped.is_type(event.type):
                    break
            await writer
            return sent_at_first_audio, len(pieces), groups

    sent_at_first_audio, total, groups = run(main())
    assert len(groups) == 4 and all(start.rate == native and chunks for start, chunks, _ in groups)
    assert sent_at_first_audio < total, "the first sentence was not heard before the text was all sent"
