"""A streamed WAV reads back with its true length in Python's ``wave``, soundfile, sox and ffmpeg (issue 28).

The readers are asked the length the header gives (``wave.getnframes()``, ``soundfile.info``, ``soxi -s``,
``ffprobe``'s duration), not the samples they can read: a header of "unknown" sizes (0xFFFFFFFF) reads
as 2,147,483,647 frames or 37 hours. The server sends exact sizes when the voice's durations give the
length before the first byte, which the real server is asked for here through the openai client's
``stream_to_file``, as the README does.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest
from openai import OpenAI

from .conftest import KOKORO, PIPER, Server, voice_or_skip

SENTENCE = "Hello world, this is a test of the formats."
TWO = "The quick brown fox jumps over the lazy dog. A second sentence follows the first one."


def header_lengths(path: Path) -> dict[str, float]:
    """The duration, in seconds, that each reader gets from the WAV's header."""
    import soundfile

    with wave.open(str(path), "rb") as w:
        out = {"wave": w.getnframes() / w.getframerate()}
    info = soundfile.info(str(path))
    out["soundfile"] = info.frames / info.samplerate
    if shutil.which("soxi"):
        out["soxi"] = float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True,
                                           check=True).stdout)
    if shutil.which("ffprobe"):
        out["ffmpeg"] = float(subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
            capture_output=True, text=True, check=True).stdout)
    else:  # FFmpeg's own demuxer through PyAV (a serve dependency): the duration ffprobe prints
        import av

        with av.open(str(path)) as container:
            out["ffmpeg"] = container.duration / av.time_base
    return out


def sent_seconds(path: Path) -> float:
    """The audio the file holds: its bytes after the 44-byte header, whatever the header says (Piper's
    durations are drawn with noise, so a second request would not be the same length)."""
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
    return (path.stat().st_size - 44) / 2 / rate


def saved(server: Server, path: Path, voice: str, text: str, **extra: object) -> str:
    """Save a streamed WAV as the README does; the x-ttsint-wav-length header it came with."""
    client = OpenAI(base_url=server.url + "/v1", api_key="not-needed", max_retries=0)
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice=voice, input=text, response_format="wav",
            extra_body=extra or None) as response:
        response.stream_to_file(path)
        return response.headers["x-ttsint-wav-length"]


def assert_true_length(path: Path) -> None:
    seconds = sent_seconds(path)
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
    lengths = header_lengths(path)
    wrong = {name: got for name, got in lengths.items() if abs(got - seconds) > 1.5 / rate}
    assert not wrong, f"true length {seconds:.4f} s; the readers said {lengths}"
    if "soxi" not in lengths:
        pytest.skip("soxi not installed (setup.sh --test installs sox); the other readers read the true "
                    "length")


@pytest.mark.parametrize("rates", [(16000, 24000), (22050, 24000), (24000, 16000), (22050, 48000)])
def test_the_resampled_length_is_what_soxr_makes(rates: tuple[int, int]) -> None:
    from ttsint_serve.formats import Resampler, resampled_length

    rng = np.random.default_rng(0)
    for n in (1, 255, 1001, 54272, 99991):
        resample = Resampler(*rates)
        x = rng.standard_normal(n).astype(np.float32)
        made = sum(len(resample(x[i:i + 777])) for i in range(0, n, 777))
        made += len(resample(np.zeros(0, np.float32), last=True))
        assert made == resampled_length(n, *rates), (rates, n)


@pytest.mark.slow
def test_the_length_is_planned_from_the_durations_within_the_budget() -> None:
    """``SpeechStream.plan_length``: the frames the stream then makes; the first sentence is readied
    whatever the budget, the others only within it."""
    import ttsint

    voice = ttsint.Voice.load("en-rms")
    hop = voice.addon.hop_length
    for text, budget, known in ((SENTENCE, 0.0, True), (TWO, 0.0, False), (TWO, None, True)):
        stream = voice.stream(text, lookahead=False)
        planned = stream.plan_length(hop, budget=budget)
        made = sum(len(chunk) for chunk in stream)
        assert planned == (made if known else None), (text, budget, planned, made)


@pytest.mark.slow
@pytest.mark.parametrize("voice", ["en-rms", PIPER])
def test_a_streamed_wav_has_exact_sizes_when_durations_give_the_length(every_voice_server: Server,
                                                                      tmp_path: Path, voice: str) -> None:
    voice_or_skip(every_voice_server, voice)
    path = tmp_path / "hello.wav"
    # One sentence: exact by default (readied anyway); three: exact when asked (by default only when
    # readying them all takes at most 0.5 s, which a loaded test machine cannot promise).
    assert saved(every_voice_server, path, voice, SENTENCE) == "exact"
    assert_true_length(path)
    text = SENTENCE + " " + TWO
    assert saved(every_voice_server, path, voice, text, wav_length="exact") == "exact"
    assert_true_length(path)
    if voice == "en-rms":  # deterministic: the planned length is all the audio, none cut or padded
        pcm = httpx.post(every_voice_server.url + "/v1/audio/speech", timeout=300, json={
            "voice": voice, "input": text, "response_format": "pcm", "sample_rate": 16000}).content
        assert path.read_bytes()[44:] == pcm
    # At 24 kHz too: the resampled length is computed exactly before the first byte.
    assert saved(every_voice_server, path, voice, SENTENCE, sample_rate=24000) == "exact"
    assert_true_length(path)


@pytest.mark.slow
def test_kokoro_one_sentence_is_exact_and_more_when_asked(every_voice_server: Server, tmp_path: Path) -> None:
    """Kokoro makes each sentence whole, so readying a second sentence is synthesising it: one sentence
    gets exact sizes anyway; several get them with ``wav_length: "exact"`` (the WAV held back)."""
    voice_or_skip(every_voice_server, KOKORO)
    path = tmp_path / "kokoro.wav"
    assert saved(every_voice_server, path, KOKORO, "Hello there.") == "exact"
    assert_true_length(path)
    assert saved(every_voice_server, path, KOKORO, TWO, wav_length="exact") == "exact"
    assert_true_length(path)


@pytest.mark.slow
def test_wav_length_streamed_keeps_the_unknown_sizes_and_ssml_may_ask_for_exact(every_voice_server: Server,
                                                                              tmp_path: Path) -> None:
    path = tmp_path / "streamed.wav"
    assert saved(every_voice_server, path, "en-rms", SENTENCE, wav_length="streamed") == "streamed"
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == 0x7FFFFFFF  # what the issue saw: the readers disagree with the audio
    ssml = "<speak>Hello <break time='300ms'/> world.</speak>"
    assert saved(every_voice_server, path, "en-rms", ssml) == "streamed"  # a Document: no durations ahead
    assert saved(every_voice_server, path, "en-rms", ssml, wav_length="exact") == "exact"
    assert_true_length(path)
    bad = httpx.post(every_voice_server.url + "/v1/audio/speech", timeout=60, json={
        "voice": "en-rms", "input": "Hi.", "response_format": "wav", "wav_length": "sometimes"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "wav_length"


def test_a_client_that_hangs_up_gets_no_padded_end(caplog: pytest.LogCaptureFixture) -> None:
    """A cancelled stream ends its chunks early: that is the client going away, not a voice making fewer
    samples than its durations said, so nothing is padded, finished or logged as such (the soak's log
    was full of "made N samples fewer ... padded with silence" from its hang-ups). The in-process app
    (``create_app``, real demo voice and scheduler) is driven over ASGI by a client that disconnects
    after the first body."""
    import asyncio
    import json
    import logging
    import time

    from starlette.testclient import TestClient
    from ttsint_serve.app import create_app
    from ttsint_serve.pool import VoicePool
    from ttsint_serve.scheduler import Scheduler
    from ttsint_serve.specs import parse_voice_spec

    from .conftest import DEMO

    pool = VoicePool([parse_voice_spec(f"{DEMO},name=demo-a")])
    app = create_app(pool, Scheduler(workers=1, max_streams=4))
    payload = json.dumps({"voice": "demo-a", "input": "This sentence goes on and on for a while. " * 6,
                          "response_format": "wav", "wav_length": "exact"}).encode()

    async def hang_up_after_the_first_body() -> list[dict]:
        sent: list[dict] = []
        first_body = asyncio.Event()
        asked = iter([{"type": "http.request", "body": payload, "more_body": False}])

        async def receive() -> dict:
            request = next(asked, None)
            if request is not None:
                return request
            await first_body.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            if message["type"] == "http.response.body":
                first_body.set()

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/v1/audio/speech", "raw_path": b"/v1/audio/speech",
                 "query_string": b"", "root_path": "", "headers": [(b"content-type", b"application/json")],
                 "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}
        await app(scope, receive, send)
        return sent

    with TestClient(app) as client:
        deadline = time.monotonic() + 300
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the demo voice did not load"
            time.sleep(0.1)
        caplog.set_level(logging.WARNING, logger="ttsint.serve")
        sent = client.portal.call(hang_up_after_the_first_body)
    assert sent[0]["status"] == 200 and dict(sent[0]["headers"])[b"x-ttsint-wav-length"] == b"exact"
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert all(m["more_body"] for m in bodies), "a hung-up stream was finished as if whole"
    assert "fewer than its durations" not in caplog.text
