"""SSML through the real server: a document over every served architecture, hostile documents refused."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time

import httpx
import numpy as np
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.tts import Synthesize, SynthesizeVoice

from .conftest import KOKORO, PIPER, Server

pytestmark = pytest.mark.slow

CLICK_MAX = 0.02
"""As in tests/test_document.py: the largest sample step allowed within 2 ms of a join."""


def ready_voices(server: Server) -> list[str]:
    status = server.get("/readyz").json()["voices"]
    return [n for n in ("en-rms", PIPER, KOKORO) if status.get(n) == "ready"]


def timestamps(server: Server, **body: object) -> httpx.Response:
    return httpx.post(server.url + "/v1/audio/speech/timestamps", timeout=600,
                      json={"response_format": "pcm", **body})


def test_a_document_over_every_architecture(every_voice_server: Server) -> None:
    names = ready_voices(every_voice_server)
    if len(names) < 2:
        pytest.skip(f"needs two served architectures, has {names}")
    body = "".join(f'<voice name="{n}"><s><mark name="m{i}"/>Number {i + 1} speaks.</s></voice>'
                   for i, n in enumerate(names))
    reply = timestamps(every_voice_server, voice=names[0], input=f"<speak>{body}</speak>", sample_rate=24000)
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["sample_rate"] == 24000 and reply.headers["x-sample-rate"] == "24000"
    audio = np.frombuffer(base64.b64decode(data["audio"]), "<i2").astype(np.float32) / 32768
    seconds = len(audio) / 24000
    runs = data["segments"]
    assert [r["voice"] for r in runs] == names
    marks = [m for r in runs for m in r["marks"]]
    assert [m["name"] for m in marks] == [f"m{i}" for i in range(len(names))]
    times = [m["time"] for m in marks]
    assert times == sorted(times) and all(0 <= t <= seconds for t in times)
    words = data["words"]
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert all(0 <= w["start"] < w["end"] <= seconds + 1e-3 for w in words)
    w = int(0.002 * 24000)
    for run in runs[1:]:  # each voice change starts at a join
        j = int(run["start"] * 24000)
        assert np.abs(np.diff(audio[j - w:j + w])).max() <= CLICK_MAX + 2 / 32768


@pytest.mark.parametrize(("document", "message"), [
    ('<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
     "<speak>&b;&b;&b;</speak>", "DTDForbidden"),
    ('<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><speak>&x;</speak>',
     "DTDForbidden"),
    ("<speak><voice name='/etc/passwd'>hi</voice></speak>", "no such voice"),
    ("<speak><p>unclosed</speak>", "not well-formed"),
])
def test_hostile_documents_get_400_and_the_server_stays_up(every_voice_server: Server, document: str,
                                                           message: str) -> None:
    if "en-rms" not in ready_voices(every_voice_server):
        pytest.skip("en-rms is not served")
    reply = every_voice_server.speech(voice="en-rms", input=document)
    assert reply.status_code == 400 and message in reply.text, reply.text
    assert "/etc/passwd" not in reply.text.replace("'/etc/passwd'", "") or "no such voice" in message
    assert every_voice_server.speech(voice="en-rms", input="<speak>Still here.</speak>").status_code == 200


def test_a_50_mb_document_is_refused_before_parsing(every_voice_server: Server) -> None:
    reply = every_voice_server.speech(voice="en-rms", input="<speak>" + "a " * 25_000_000 + "</speak>")
    assert reply.status_code == 413
    assert every_voice_server.get("/healthz").status_code == 200


def test_wyoming_speaks_a_document_and_refuses_a_hostile_one(every_voice_server: Server) -> None:
    names = ready_voices(every_voice_server)
    if "en-rms" not in names or every_voice_server.wyoming_port is None:
        pytest.skip("en-rms over Wyoming is not served")
    other = next((n for n in names if n != "en-rms"), "en-rms")
    document = f'<speak>One. <voice name="{other}">Two.</voice></speak>'
    hostile = '<!DOCTYPE speak [<!ENTITY a "b">]><speak>&a;</speak>'

    async def main() -> tuple[list[Event], Event | None]:
        port = every_voice_server.wyoming_port
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(document, voice=SynthesizeVoice(name="en-rms")).event())
            events = []
            while not events or not AudioStop.is_type(events[-1].type):
                event = await asyncio.wait_for(client.read_event(), 300)
                assert event is not None
                events.append(event)
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(hostile, voice=SynthesizeVoice(name="en-rms")).event())
            refused = await asyncio.wait_for(client.read_event(), 60)
        return events, refused

    events, refused = asyncio.run(main())
    start = AudioStart.from_event(events[0])
    chunks = [AudioChunk.from_event(e) for e in events[1:-1]]
    assert start.rate == 16000 and all(c.rate == 16000 for c in chunks)
    assert sum(len(c.audio) for c in chunks) > 2 * 16000 * 1.0  # both voices' sentences, 16-bit
    assert refused is not None and Error.is_type(refused.type)
    error = Error.from_event(refused)
    assert error.code == "bad-input" and "DTDForbidden" in error.text


def server_threads(server: Server) -> int:
    for line in open(f"/proc/{server.process.pid}/status"):
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads line")


def test_documents_stream_on_the_scheduler_workers_with_no_threads_of_their_own(
        every_voice_server: Server) -> None:
    """Four SSML streams held open mid-document: the server has no more threads than when idle (each
    request used to run a look-ahead executor, and a look-ahead thread per run, outside the scheduler)."""
    if "en-rms" not in ready_voices(every_voice_server):
        pytest.skip("en-rms is not served")
    runs = "".join(f'<prosody volume="{"+1dB" if i % 2 else "-1dB"}">Run {i} has a first sentence here. '
                   f"And a second one follows it.</prosody>" for i in range(12))
    document = f"<speak>{runs}</speak>"
    body = {"voice": "en-rms", "input": document, "response_format": "pcm"}
    assert every_voice_server.speech(**body).status_code == 200  # warm: every lazy pool made
    idle = server_threads(every_voice_server)
    with httpx.Client(timeout=300) as client, contextlib.ExitStack() as open_streams:
        url = every_voice_server.url + "/v1/audio/speech"
        opened, deadline = 0, time.monotonic() + 120
        while opened < 4 and time.monotonic() < deadline:
            reply = open_streams.enter_context(client.stream("POST", url, json=body))
            if reply.status_code == 429:  # admission on a loaded machine: retry when it says
                reply.read()
                time.sleep(float(reply.headers.get("retry-after", 1)))
                continue
            assert reply.status_code == 200, reply.read()
            next(reply.iter_raw(4096))  # mid-document: its next runs not reached yet
            opened += 1
        assert opened, "no document stream was admitted in 2 minutes"
        time.sleep(0.5)  # a look-ahead would be readying the next run by now
        during = server_threads(every_voice_server)
    assert during <= idle, f"{during - idle} more threads while {opened} documents stream"


@pytest.mark.parametrize("voice", ["en-rms", PIPER])
def test_speed_applies_to_documents(every_voice_server: Server, voice: str) -> None:
    """speed 2 halves a document's audio: en-rms paced (its pace parameter), Piper time-stretched."""
    if voice not in ready_voices(every_voice_server):
        pytest.skip(f"{voice} is not served")
    document = (f'<speak><voice name="{voice}">The quick brown fox jumps over the lazy dog. '
                "<break time=\"300ms\"/>A large crowd gathered at the station.</voice></speak>")
    seconds = {}
    for speed in (1.0, 2.0):
        reply = timestamps(every_voice_server, voice="en-rms", input=document, speed=speed, sample_rate=16000)
        assert reply.status_code == 200, reply.text
        seconds[speed] = reply.json()["duration"]
    ratio = seconds[2.0] / seconds[1.0]
    assert 0.4 <= ratio <= 0.62, seconds
