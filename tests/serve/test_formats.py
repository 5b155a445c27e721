"""Every OpenAI response format, rate, event and timing from a real `ttsint serve`, read with real clients.

One server serves en-rms (16 kHz), the demo voice (cheap, for long streams) and, when their addons are
installed and load, Piper's en_US-joe-medium (22.05 kHz) and Kokoro's kokoro-af_heart (24 kHz).
Audio is decoded back with PyAV (FFmpeg's decoders) and compared with the ``pcm`` of the same request.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import shutil
import subprocess
import wave
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
import soxr
import ttsint
from openai import AsyncOpenAI, OpenAI
from openai._streaming import SSEDecoder

from .conftest import KOKORO, LONG_TEXT, PIPER, Server, voice_or_skip

pytestmark = pytest.mark.slow

SENTENCE = "Hello world, this is a test of the formats."
PARAGRAPH = ("The quick brown fox jumps over the lazy dog, and then it runs away. "
             "A second sentence follows the first one, with a comma in it. "
             "Streaming speech should be timed word by word, from the model's own durations. "
             "This is the last sentence of the paragraph.")
LOSSY_SNR_DB = 15.0
"""mp3 (64 kb/s), aac (64 kb/s) and opus (32 kb/s) decode to the pcm samples with at least this
signal-to-noise ratio once aligned (measured 24.8, 25.0 and 20.5 dB on en-rms); wav and flac are exact."""


@pytest.fixture(scope="module")
def fmt_server(every_voice_server: Server) -> Server:
    return every_voice_server


def client(server: Server) -> OpenAI:
    return OpenAI(base_url=server.url + "/v1", api_key="not-needed", max_retries=0)


def speak(server: Server, **body: object) -> httpx.Response:
    return httpx.post(server.url + "/v1/audio/speech", json=body, timeout=300)


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Samples in [-1, 1] and their rate, decoded by FFmpeg through PyAV."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        rate = stream.codec_context.sample_rate
    samples = np.concatenate(frames).astype(np.float64)
    if frames[0].dtype.kind == "i":
        samples /= 32768.0
    return samples, rate


def pcm16(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<i2").astype(np.float64) / 32768.0


def aligned_snr(decoded: np.ndarray, ref: np.ndarray, max_lag: int = 4000) -> tuple[float, int]:
    """The SNR (dB) of ``decoded`` against ``ref`` at the lag (the codec's priming) that matches best."""
    n = len(ref) + max_lag
    size = 1 << int(np.ceil(np.log2(2 * n)))
    corr = np.fft.irfft(np.fft.rfft(decoded[:n], size) * np.conj(np.fft.rfft(ref, size)), size)[:max_lag]
    lag = int(np.argmax(corr))
    part = decoded[lag:lag + len(ref)]
    part = np.pad(part, (0, len(ref) - len(part)))
    return float(10 * np.log10(np.sum(ref ** 2) / np.sum((part - ref) ** 2))), lag


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav"])
def test_each_format_decodes_to_the_pcm_samples(fmt_server: Server, fmt: str) -> None:
    pcm = speak(fmt_server, voice="en-rms", input=SENTENCE, response_format="pcm", sample_rate=16000)
    ref = pcm16(pcm.content)
    received: list[bytes] = []
    with client(fmt_server).audio.speech.with_streaming_response.create(
            model="tts-1", voice="en-rms", input=SENTENCE, response_format=fmt) as response:  # type: ignore[arg-type]
        assert response.headers["content-type"] == {"mp3": "audio/mpeg", "opus": "audio/opus",
                                                    "aac": "audio/aac", "flac": "audio/flac",
                                                    "wav": "audio/wav"}[fmt]
        assert response.headers["x-sample-rate"] == "16000"
        received.extend(response.iter_bytes())
    samples, rate = decode(b"".join(received))
    if fmt in ("wav", "flac"):
        assert rate == 16000 and np.array_equal(samples, ref)
        return
    if rate != 16000:  # FFmpeg decodes Opus at 48 kHz whatever rate it was encoded at
        samples = soxr.resample(samples, rate, 16000)
    snr, lag = aligned_snr(samples, ref)
    assert snr >= LOSSY_SNR_DB, f"{fmt}: {snr:.1f} dB at lag {lag}"
    assert lag < 2400  # the codec's own delay (mp3 1105, aac 1024 samples), not a lost chunk


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_the_first_bytes_of_each_format_leave_before_the_last_chunk_is_made(fmt_server: Server,
                                                                           fmt: str) -> None:
    # LONG_TEXT needs 500+ chunks from the demo voice (conftest); the client reads its first bytes and
    # asks how many chunks the server has made by then, then leaves (which cancels the stream).
    before = fmt_server.metric("ttsint_chunks_total", voice="demo-a")
    with fmt_server.client() as http, http.stream(
            "POST", "/v1/audio/speech", json={"voice": "demo-a", "input": LONG_TEXT,
                                              "response_format": fmt}) as response:
        assert response.status_code == 200
        first = next(response.iter_raw(64))
        made = fmt_server.metric("ttsint_chunks_total", voice="demo-a") - before
    assert len(first) > 0
    assert 1 <= made < 100


@pytest.mark.parametrize(("voice", "native"), [("en-rms", 16000), (PIPER, 22050), (KOKORO, 24000)])
def test_pcm_is_24_khz_and_lasts_as_long_as_the_voice(fmt_server: Server, voice: str, native: int) -> None:
    voice_or_skip(fmt_server, voice)
    # One synthesis (Piper's durations are sampled anew each time): its 24 kHz pcm, and where the
    # voice's own chunks ended, at its native rate.
    body = httpx.post(fmt_server.url + "/v1/audio/speech/timestamps", timeout=300,
                      json={"voice": voice, "input": SENTENCE, "response_format": "pcm"}).json()
    assert body["sample_rate"] == 24000
    seconds_24k = len(base64.b64decode(body["audio"])) / 2 / 24000
    hop = ttsint.load_addon(voice).hop_length
    assert abs(seconds_24k - body["segments"][-1]["end"]) <= hop / native  # within one frame


def test_streamed_pcm_at_24_khz_is_the_whole_resampled(fmt_server: Server) -> None:
    own = speak(fmt_server, voice="en-rms", input=SENTENCE, response_format="pcm", sample_rate=16000)
    openai_pcm = speak(fmt_server, voice="en-rms", input=SENTENCE, response_format="pcm")
    assert openai_pcm.headers["x-sample-rate"] == "24000"
    whole = soxr.resample(pcm16(own.content).astype(np.float32), 16000, 24000, quality="HQ")
    streamed = pcm16(openai_pcm.content)
    assert len(streamed) == len(whole)
    assert np.abs(streamed - whole).max() < 2e-4  # two 16-bit roundings apart


@pytest.mark.parametrize("rates", [(16000, 24000), (22050, 24000), (24000, 16000), (16000, 48000)])
def test_streamed_resampling_equals_resampling_the_whole(rates: tuple[int, int]) -> None:
    from ttsint_serve.formats import Resampler

    rng = np.random.default_rng(0)
    x = rng.standard_normal(rates[0] * 2).astype(np.float32) * 0.3
    resample = Resampler(*rates)
    cuts = np.sort(rng.choice(len(x), 30, replace=False))
    parts = [resample(piece) for piece in np.split(x, cuts)] + [resample(x[:0], last=True)]
    streamed = np.concatenate(parts)
    whole = soxr.resample(x, *rates, quality="HQ")
    assert len(streamed) == len(whole) and np.abs(streamed - whole).max() < 1e-4


def test_sse_streams_openai_events_and_ttsint_words(fmt_server: Server) -> None:
    raw = speak(fmt_server, voice="en-rms", input=PARAGRAPH, response_format="pcm").content
    with client(fmt_server).audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="en-rms", input=PARAGRAPH, response_format="pcm",
            stream_format="sse") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [event.json() for event in SSEDecoder().iter_bytes(response.iter_bytes())]
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "speech.audio.done" and kinds.count("speech.audio.done") == 1
    assert set(kinds) == {"speech.audio.delta", "speech.audio.done", "ttsint.words"}
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")
    assert audio == raw
    usage = events[-1]["usage"]
    assert usage["input_tokens"] == len(PARAGRAPH) and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    words = [e for e in events if e["type"] == "ttsint.words"]
    assert [w["segment"] for w in words] == list(range(4))
    # Interleaved: the first sentence's words come before the audio of the last sentence.
    assert kinds.index("ttsint.words") < len(kinds) - 3 and kinds[kinds.index("ttsint.words") + 1] != \
        "speech.audio.done"


@pytest.mark.parametrize("voice", ["en-rms", PIPER, KOKORO])
def test_word_timestamps_come_from_the_durations(fmt_server: Server, voice: str) -> None:
    voice_or_skip(fmt_server, voice)
    card = next(v for v in fmt_server.get("/v1/voices").json()["data"] if v["name"] == voice)
    if not card["honours"]["timestamps"]:
        pytest.skip(f"{voice}: its front end gives no word_ids (which word each symbol is), so its words "
                    "cannot be timed; /v1/voices says so (honours.timestamps false)")
    # The paragraph on en-rms; its first sentence on the larger voices (Kokoro takes a minute for the
    # paragraph on a busy 2-core machine, and the test suite's budget is two minutes in all).
    text = PARAGRAPH if voice == "en-rms" else PARAGRAPH.split(". ")[0] + "."
    body = httpx.post(fmt_server.url + "/v1/audio/speech/timestamps", timeout=300,
                      json={"voice": voice, "input": text, "response_format": "pcm"}).json()
    audio = pcm16(base64.b64decode(body["audio"]))
    rate = body["sample_rate"]
    addon = ttsint.load_addon(voice)
    frame = addon.hop_length / addon.sample_rate
    assert len(body["segments"]) == text.count(". ") + 1 and abs(len(audio) / rate - body["duration"]) < 1e-3
    said = [w["text"] for w in body["words"]]
    # Every segment is timed word for word, Kokoro's too (its front end aligns espeak-ng's word groups
    # to the words, e06b925; before that a sentence it could not match lost all its words).
    timed = [seg for seg in body["segments"] if seg["words"]]
    assert len(timed) == len(body["segments"]) and timed[0]["segment"] == 0
    assert said.index("dog,") == 8
    assert said == [w for seg in timed for w in seg["text"].split()]
    for seg in timed:
        words = seg["words"]
        assert all(a["end"] <= b["start"] + 1e-9 for a, b in zip(words, words[1:], strict=False))
        # The model's durations end where the segment's audio ends, within one frame; the last word
        # ends there too, but for the pause the model itself timed after it.
        assert abs(seg["timed_end"] - seg["end"]) <= frame + 1e-6
        assert words[-1]["end"] <= seg["end"] + 1e-6
        tail = audio[int(words[-1]["end"] * rate):int(seg["end"] * rate)]
        speech = audio[int(words[0]["start"] * rate):int(words[-1]["end"] * rate)]
        if len(tail) > 0.05 * rate:  # a long trailing pause: silence, not speech
            assert np.sqrt(np.mean(tail ** 2)) < 0.3 * np.sqrt(np.mean(speech ** 2))
    last = body["segments"][-1]
    assert abs(last["end"] - len(audio) / rate) <= frame + 1e-6
    # "... lazy dog, and then ...": the comma's pause lies between "dog," and "and": the quietest 20 ms
    # from the middle of "dog," to the middle of "and" is within the gap the timings give, give or take
    # a frame after it and two before (Kokoro counts the comma among the symbols of "dog,").
    first = body["segments"][0]["words"]
    i = said.index("dog,")
    dog, and_ = first[i], first[i + 1]
    assert and_["start"] > dog["end"], f"no pause after the comma: {dog} {and_}"
    lo, hi = int((dog["start"] + dog["end"]) / 2 * rate), int((and_["start"] + and_["end"]) / 2 * rate)
    width = rate // 50
    energy = np.convolve(audio[lo:hi] ** 2, np.ones(width), mode="valid")
    quietest = (lo + int(np.argmin(energy)) + width / 2) / rate
    assert dog["end"] - 2 * frame <= quietest <= and_["start"] + frame, (quietest, dog, and_)


def test_openai_voice_names_are_aliases(fmt_server: Server) -> None:
    listing = fmt_server.get("/v1/voices").json()
    aliases = listing["aliases"]
    assert len([a for a in aliases if a != "nova"]) >= 12 and aliases["nova"] == "demo-a"
    assert aliases["alloy"] == "en-rms"  # no gender asked: the first served voice
    assert aliases["onyx"] == "en-rms"  # en-rms says "male" in its description
    nova = speak(fmt_server, model="tts-1", voice="nova", input="Hi there.", response_format="pcm")
    alloy = speak(fmt_server, model="tts-1", voice="alloy", input="Hi there.", response_format="pcm")
    by_model = speak(fmt_server, model="tts-1-hd", input="Hi there.", response_format="pcm")
    assert nova.headers["x-ttsint-voice"] == "demo-a"
    assert alloy.headers["x-ttsint-voice"] == by_model.headers["x-ttsint-voice"] == "en-rms"
    # Whatever the name, the audio is the voice's own.
    own = speak(fmt_server, voice="en-rms", input="Hi there.", response_format="pcm")
    assert alloy.content == own.content


def test_instructions_are_accepted_and_said_to_be_ignored(fmt_server: Server) -> None:
    response = speak(fmt_server, voice="en-rms", input="Hi there.", instructions="Speak cheerfully.",
                     response_format="pcm")
    assert response.status_code == 200
    assert "cannot follow instructions" in response.headers["x-ttsint-instructions"]
    assert "x-ttsint-instructions" not in speak(fmt_server, voice="en-rms", input="Hi.",
                                                response_format="pcm").headers


def test_voices_and_models_show_what_each_voice_is_and_no_paths(fmt_server: Server) -> None:
    voices = {v["name"]: v for v in fmt_server.get("/v1/voices").json()["data"]}
    rms = voices["en-rms"]
    assert rms["architecture"].endswith("PGHI") and "Decoder" in rms["blocks"]
    assert rms["language"].startswith("en") and rms["native_sample_rate"] == 16000
    assert rms["license"].startswith("Apache-2.0") and rms["source"] == "ttsint-voice-en"
    assert rms["honours"] == {"speed": True, "instructions": False, "timestamps": True, "sample_rate": True}
    models = {m["id"]: m for m in fmt_server.get("/v1/models").json()["data"]}
    assert models["en-rms"]["architecture"] == rms["architecture"] and "tts-1" in models
    text = json.dumps([voices, models]) + fmt_server.get("/v1/voices").text
    roots = {str(Path(ttsint.__file__).resolve().parents[2]), str(Path.home()), "/tmp", "/usr/", "/work"}
    for root in roots:
        assert root not in text, f"{root} shows in the listing"


def _readers(path: Path) -> dict[str, int]:
    """The sample count each reader gets from a WAV file (reading the samples, not the header's count)."""
    import soundfile

    with wave.open(str(path), "rb") as w:
        counts = {"wave": len(w.readframes(1 << 31)) // 2}
    counts["soundfile"] = len(soundfile.read(str(path))[0])
    with av.open(str(path)) as container:
        counts["ffmpeg (PyAV)"] = sum(f.samples for f in container.decode(container.streams.audio[0]))
    if shutil.which("sox"):
        stat = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True).stderr
        counts["sox"] = int(next(line for line in stat.splitlines() if "Samples read" in line).split()[-1])
    if shutil.which("ffprobe"):
        out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                              "csv=p=0", str(path)], capture_output=True, text=True).stdout
        counts["ffprobe"] = round(float(out) * 16000)
    return counts


def test_a_streamed_wav_reads_back_with_its_true_length(fmt_server: Server, tmp_path: Path) -> None:
    path = tmp_path / "hello.wav"
    with client(fmt_server).audio.speech.with_streaming_response.create(
            model="tts-1", voice="en-rms", input=SENTENCE, response_format="wav") as response:
        response.stream_to_file(path)  # the README's example
    true = len(speak(fmt_server, voice="en-rms", input=SENTENCE, response_format="pcm",
                     sample_rate=16000).content) // 2
    counts = _readers(path)
    assert counts == {name: true for name in counts}, counts
    if "sox" not in counts:
        pytest.skip("sox is not installed (setup.sh installs it as root); the other readers agreed")


def test_the_timestamps_wav_has_exact_sizes(fmt_server: Server, tmp_path: Path) -> None:
    body = httpx.post(fmt_server.url + "/v1/audio/speech/timestamps", timeout=300,
                      json={"voice": "en-rms", "input": SENTENCE, "response_format": "wav"}).json()
    path = tmp_path / "whole.wav"
    path.write_bytes(base64.b64decode(body["audio"]))
    with wave.open(str(path), "rb") as w:
        header_count = w.getnframes()
    assert header_count == round(body["duration"] * 16000)
    assert set(_readers(path).values()) == {header_count}


def test_livekit_agents_openai_tts_request(fmt_server: Server) -> None:
    """LiveKit Agents' OpenAI TTS (livekit-plugins-openai, tts.py): its defaults, client and timeouts.

    It sends model gpt-4o-mini-tts, voice "ash", response_format "mp3" and speed 1.0 through
    ``AsyncClient.audio.speech.with_streaming_response.create``, with a 5 s read timeout between
    bytes, declares 24 kHz mono and the mime type ``audio/mp3``, and decodes what arrives.
    """
    async def run() -> tuple[int, str, bytes]:
        timeout = httpx.Timeout(connect=15.0, read=5.0, write=5.0, pool=5.0)
        oai = AsyncOpenAI(base_url=fmt_server.url + "/v1", api_key="not-needed", max_retries=0,
                          http_client=httpx.AsyncClient(timeout=timeout))
        async with oai.audio.speech.with_streaming_response.create(
                input="Hello from a LiveKit agent.", model="gpt-4o-mini-tts", voice="ash",
                response_format="mp3", speed=1.0, timeout=httpx.Timeout(30, connect=10.0)) as stream:
            data = b"".join([piece async for piece in stream.iter_bytes()])
            return stream.status_code, stream.headers["content-type"], data

    status, content_type, data = asyncio.run(run())
    assert status == 200 and content_type == "audio/mpeg"
    samples, rate = decode(data)
    assert rate == 16000 and len(samples) / rate > 1.0


def test_pipecat_openai_tts_service_speaks_through_the_server(fmt_server: Server) -> None:
    """Pipecat's own OpenAITTSService: it accepts only OpenAI's 13 voice names and plays pcm as 24 kHz."""
    pipecat_tts = pytest.importorskip("pipecat.services.openai.tts",
                                      reason="pipecat-ai is a test extra of ttsint-serve (setup.sh)")
    from pipecat.frames.frames import ErrorFrame, TTSAudioRawFrame

    async def run() -> list[object]:
        service = pipecat_tts.OpenAITTSService(
            api_key="not-needed", base_url=fmt_server.url + "/v1", sample_rate=24000,
            settings=pipecat_tts.OpenAITTSService.Settings(voice="nova", model="gpt-4o-mini-tts"))
        service._sample_rate = 24000  # what start(StartFrame) sets inside a pipeline
        return [frame async for frame in service.run_tts("Hello from a Pipecat agent.", "ctx-1")]

    frames = asyncio.run(run())
    errors = [f for f in frames if isinstance(f, ErrorFrame)]
    assert not errors, errors
    audio = b"".join(f.audio for f in frames if isinstance(f, TTSAudioRawFrame))
    assert {f.sample_rate for f in frames if isinstance(f, TTSAudioRawFrame)} == {24000}
    expected = speak(fmt_server, model="gpt-4o-mini-tts", voice="nova", input="Hello from a Pipecat agent.",
                     response_format="pcm").content
    assert audio == expected and len(audio) / 2 / 24000 > 0.5


def test_the_server_logs_its_url_voices_and_page_when_ready(fmt_server: Server) -> None:
    fmt_server.wait_for(lambda: "ttsint serve is ready at" in fmt_server.output(), "the ready line")
    line = next(x for x in fmt_server.output().splitlines() if "ttsint serve is ready at" in x)
    assert f"ready at {fmt_server.url} " in line and f"base_url {fmt_server.url}/v1" in line
    assert "en-rms (16000 Hz)" in line and "demo-a (16000 Hz)" in line and line.endswith(f"{fmt_server.url}/")
