"""The HTTP API of a real `ttsint serve` on 127.0.0.1: voices, streaming, cancellation, errors, metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
import ttsint
from hypothesis import given, settings
from hypothesis import strategies as st
from ttsint_serve.app import parse_speech_request
from ttsint_serve.errors import APIError

from .conftest import LONG_TEXT, Server, assert_valid_wav, turn_back_into_directory, turn_into_file

SHORT = "Hello world, this is a streaming test."


def test_two_voices_are_listed_with_their_blocks_and_origins(server: Server) -> None:
    voices = {v["name"]: v for v in server.get("/v1/voices").json()["data"]}
    assert {"demo-a", "demo-b", "demo-tap"} <= set(voices)
    a, b = voices["demo-a"], voices["demo-b"]
    for voice in (a, b):
        assert voice["status"] == "ready" and voice["addon"] == "demo"
        assert voice["sample_rate"] == 16000 and voice["version"] == "0.1.0"
        assert voice["output_kind"] == "waveform" and voice["speed"] is True
    assert b["overrides"]["stack.0.streamable_block.stack.0.pace"] == 0.8
    origins = {}

    def walk(node: dict) -> None:
        origins[node["path"]] = (node["type"], node["plugin"], node["distribution"])
        for child in node.get("children", []):
            walk(child)

    walk(a["tree"])
    assert origins["stack[0].sequence_block"] == ("Encoders", "encoders", "ttsint-encoders")
    assert origins["stack[0].streamable_block.stack[1]"] == ("Decoder", "encoders", "ttsint-encoders")
    assert origins["stack[1]"] == ("GriffinLim", "dsp", "ttsint-dsp")
    assert origins["stack"][1:] == ("ttsint", "ttsint")

    models = server.get("/v1/models").json()
    assert models["object"] == "list"
    assert {"demo-a", "demo-b"} <= {m["id"] for m in models["data"]}
    served = [m for m in models["data"] if m["id"] not in ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")]
    assert all(m["object"] == "model" and m["owned_by"] == "ttsint-encoders" for m in served)
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"} <= {m["id"] for m in models["data"]}


def test_a_broken_addon_is_reported_and_the_others_serve(server: Server, broken_addon: Path) -> None:
    assert server.get("/healthz").json() == {"status": "ok"}
    ready = server.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["voices"]["demo-a"] == "ready"
    (failed_name, message), = body["failed"].items()
    assert failed_name in (str(broken_addon), broken_addon.name)  # Ray names the voice by its label alone
    # The local server names the config by its path; Ray's replica reports it without the server's paths.
    assert "addon.toml" in message and "stack: missing" in message
    assert "failed to load" in server.output() and str(broken_addon / "addon.toml") in server.output()
    listed = {v["name"]: v for v in server.get("/v1/voices").json()["data"]}
    assert listed[broken_addon.name]["status"] == "failed"  # named without the server's path
    refused = server.speech(voice=str(broken_addon), input=SHORT)
    assert refused.status_code == 503 and "failed to load" in refused.json()["error"]["message"]


def test_each_voice_speaks_a_streamed_wav(server: Server) -> None:
    lengths = {}
    for name in ("demo-a", "demo-b"):
        response = server.speech(model="tts-1", voice=name, input=SHORT)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "audio/wav"
        assert response.headers["transfer-encoding"] == "chunked" and "content-length" not in response.headers
        lengths[name] = assert_valid_wav(response.content)
    # demo-b is the same addon with pace 0.8 in its Upsampler: a different voice, speaking slower.
    assert lengths["demo-b"] > lengths["demo-a"] * 1.15


def test_model_may_name_the_voice_and_pcm_is_the_wav_without_its_header(server: Server) -> None:
    wav = server.speech(model="demo-a", voice="alloy", input=SHORT)
    pcm = server.speech(voice="demo-a", input=SHORT, response_format="pcm", sample_rate=16000)
    assert wav.status_code == pcm.status_code == 200
    assert pcm.headers["content-type"] == "audio/pcm" and pcm.headers["x-sample-rate"] == "16000"
    assert pcm.content == wav.content[44:]
    # OpenAI's pcm is 24 kHz: without sample_rate the 16 kHz voice is resampled, 3 samples for every 2.
    openai_pcm = server.speech(voice="demo-a", input=SHORT, response_format="pcm")
    assert openai_pcm.headers["x-sample-rate"] == "24000"
    assert len(openai_pcm.content) == len(pcm.content) * 3 // 2


def test_speed_maps_onto_the_voice_pace(server: Server) -> None:
    samples = {speed: len(server.speech(voice="demo-a", input=SHORT, speed=speed,
                                        response_format="pcm").content) for speed in (0.5, 1.0, 2.0)}
    assert samples[2.0] < 0.6 * samples[1.0] < 0.6 * 0.6 * samples[0.5]


def test_the_first_bytes_arrive_before_the_last_chunk_is_made(server: Server) -> None:
    # The client stops reading at its first bytes and asks the server how many chunks it has made
    # (a counter bumped as each chunk is made). The text makes about twice what the kernel buffers
    # between the two, so a server that streams cannot have made the last chunk by then.
    before = server.metric("ttsint_chunks_total", voice="demo-a")
    with server.client() as client, client.stream(
            "POST", "/v1/audio/speech", json={"voice": "demo-a", "input": LONG_TEXT,
                                              "response_format": "wav"}) as response:
        assert response.status_code == 200
        body = response.iter_raw(4096)
        first = next(body)
        made_at_first_bytes = server.metric("ttsint_chunks_total", voice="demo-a") - before
        assert server.metric("ttsint_active_streams") == 1
        data = first + b"".join(body)
    made_in_all = server.metric("ttsint_chunks_total", voice="demo-a") - before
    assert_valid_wav(data)
    assert 1 <= made_at_first_bytes < made_in_all
    assert made_in_all > 100


def test_a_client_that_disconnects_cancels_its_stream(server: Server) -> None:
    cancelled = server.metric("ttsint_streams_cancelled_total", voice="demo-b")
    before = server.metric("ttsint_chunks_total", voice="demo-b")
    with server.client() as client, client.stream(
            "POST", "/v1/audio/speech", json={"voice": "demo-b", "input": LONG_TEXT}) as response:
        assert response.status_code == 200
        body = response.iter_raw(1024)  # kept: dropping the iterator would close the connection
        next(body)
        assert server.metric("ttsint_active_streams") == 1
    # Leaving the block closed the connection mid-body.
    server.wait_for(lambda: server.metric("ttsint_active_streams") == 0, "the active-streams gauge to fall")
    server.wait_for(lambda: server.metric("ttsint_streams_cancelled_total", voice="demo-b") == cancelled + 1,
                    "the cancellation to be counted")
    made = server.metric("ttsint_chunks_total", voice="demo-b") - before
    # The whole text needs 500+ chunks (see LONG_TEXT); the generator was closed long before.
    assert made < 400
    assert server.metric("ttsint_chunks_total", voice="demo-b") - before == made


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        (b"{not json", 400, None, "not valid JSON"),
        (b"[1, 2]", 400, None, "JSON object"),
        (b'{"voice": "demo-a"}', 400, "input", "non-empty string"),
        (b'{"voice": "demo-a", "input": 7}', 400, "input", "non-empty string"),
        (b'{"input": "hi"}', 400, "voice", "required"),
        (b'{"voice": ["demo-a"], "input": "hi"}', 400, "voice", "must be a string"),
        (b'{"voice": "nobody", "input": "hi"}', 404, "voice", "demo-a, demo-b, demo-tap"),
        (b'{"voice": "demo-a", "model": 3, "input": "hi"}', 400, "model", "must be a string"),
        (b'{"voice": "demo-a", "model": "gpt-9", "input": "hi"}', 400, "model", "OpenAI's TTS models"),
        (b'{"voice": "demo-a", "input": "hi", "sample_rate": 44100.5}', 400, "sample_rate", "whole number"),
        (b'{"voice": "demo-a", "input": "hi", "sample_rate": 96000}', 400, "sample_rate", "8000 to 48000"),
        (b'{"voice": "demo-a", "input": "hi", "response_format": "opus", "sample_rate": 22050}', 400,
         "sample_rate", "opus carries only"),
        (b'{"voice": "demo-a", "input": "hi", "stream_format": "websocket"}', 400, "stream_format", "'sse'"),
        (b'{"voice": "demo-a", "input": "hi", "instructions": 5}', 400, "instructions", "string"),
        (b'{"voice": "demo-a", "input": "hi", "response_format": "ogg"}', 400, "response_format",
         "mp3, opus, aac, flac, wav, pcm"),
        (b'{"voice": "demo-a", "input": "hi", "speed": 5}', 400, "speed", "0.25 to 4.0"),
        (b'{"voice": "demo-a", "input": "hi", "speed": "fast"}', 400, "speed", "0.25 to 4.0"),
        (b'{"voice": "demo-a", "input": "' + b"a" * 3001 + b'"}', 413, "input", "at most 3000"),
        (b'{"voice": "demo-a", "input": "@@@"}', 400, "input", "cannot speak this input"),
    ],
    ids=["malformed", "not-object", "no-input", "input-type", "no-voice", "voice-type", "unknown-voice",
         "model-type", "model-name", "rate-type", "rate-range", "rate-for-format", "stream-format",
         "instructions", "format", "speed-range", "speed-type", "too-long", "unsayable"],
)
def test_bad_requests_get_openai_shaped_errors(server: Server, body: bytes, status: int, param: str | None,
                                               words: str) -> None:
    response = httpx.post(server.url + "/v1/audio/speech", content=body,
                          headers={"content-type": "application/json"}, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param"}
    assert error["param"] == param and words in error["message"]
    assert error["type"] == "invalid_request_error"


def test_more_streams_than_the_limit_get_429_with_retry_after(server: Server) -> None:
    rejected = server.metric("ttsint_streams_rejected_total")
    clients = [server.client() for _ in range(4)]
    try:
        streams = [c.stream("POST", "/v1/audio/speech", json={"voice": "demo-a", "input": LONG_TEXT})
                   for c in clients]
        bodies = []
        for stream in streams:
            response = stream.__enter__()
            assert response.status_code == 200
            bodies.append(response.iter_raw(1024))
            next(bodies[-1])
        assert server.metric("ttsint_active_streams") == 4
        refused = server.speech(voice="demo-b", input=SHORT)
        assert refused.status_code == 429
        assert 1 <= int(refused.headers["retry-after"]) <= 60  # from how long streams last
        error = refused.json()["error"]
        assert error["type"] == "rate_limit_error" and "--max-streams" in error["message"]
        assert server.metric("ttsint_streams_rejected_total") == rejected + 1
        assert server.metric("ttsint_requests_total", voice="demo-b", status="429") >= 1
        for stream in streams:
            stream.__exit__(None, None, None)
    finally:
        for client in clients:
            client.close()
    server.wait_for(lambda: server.metric("ttsint_active_streams") == 0, "the four streams to be cancelled")
    assert server.speech(voice="demo-b", input=SHORT).status_code == 200


def test_a_stream_that_fails_before_audio_gets_a_500(server: Server, tap_dir: Path) -> None:
    # demo-tap writes each mel chunk into tap_dir; with a file there instead, its first chunk fails.
    turn_into_file(tap_dir)
    try:
        response = server.speech(voice="demo-tap", input=SHORT)
    finally:
        turn_back_into_directory(tap_dir)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "server_error" and "demo-tap" in error["message"]
    assert server.metric("ttsint_errors_total", voice="demo-tap", stage="before_audio") == 1
    assert server.metric("ttsint_requests_total", voice="demo-tap", status="500") == 1


def test_a_stream_that_fails_midway_is_cut_off_counted_and_logged(server: Server, tap_dir: Path) -> None:
    # The client stops reading at its first bytes, so the stream cannot get far (see LONG_TEXT);
    # then the tap directory becomes a file, and demo-tap's next chunk fails.
    try:
        with server.client() as client, client.stream(
                "POST", "/v1/audio/speech", json={"voice": "demo-tap", "input": LONG_TEXT,
                                                  "response_format": "wav"}) as response:
            assert response.status_code == 200
            body = response.iter_raw(4096)
            received = next(body)
            turn_into_file(tap_dir)
            with pytest.raises(httpx.RemoteProtocolError):
                for piece in body:
                    received += piece
    finally:
        turn_back_into_directory(tap_dir)
    assert received[:4] == b"RIFF" and len(received) > 44
    assert server.metric("ttsint_errors_total", voice="demo-tap", stage="mid_stream") == 1
    log = server.output()
    # The tap's error: writing into the file, or (at a new sentence) making its directory where the file
    # is, or the directory gone for a moment while the test swapped them.
    assert "voice 'demo-tap' (addon " in log
    assert re.search(r"NotADirectoryError|FileExistsError|FileNotFoundError", log)
    assert str(ttsint.load_addon("demo").path) in log
    assert server.metric("ttsint_active_streams") == 0
    assert_valid_wav(server.speech(voice="demo-tap", input=SHORT).content)


def test_metrics_count_requests_first_chunks_and_real_time_factors(server: Server) -> None:
    before = server.metrics()
    assert server.speech(voice="demo-b", input=SHORT).status_code == 200
    assert server.speech(voice="nobody", input=SHORT).status_code == 404
    after = server.metrics()

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("ttsint_requests_total", voice="demo-b", status="200") == 1
    assert grew("ttsint_requests_total", voice="", status="404") == 1
    assert grew("ttsint_time_to_first_chunk_seconds_count", voice="demo-b") == 1
    assert grew("ttsint_real_time_factor_count", voice="demo-b") == 1
    assert grew("ttsint_chunks_total", voice="demo-b") >= 2
    text = server.get("/metrics").text
    for family in ("ttsint_active_streams", "ttsint_streams_rejected_total", "ttsint_errors_total",
                   "ttsint_time_to_first_chunk_seconds_bucket", "ttsint_real_time_factor_bucket"):
        assert family in text


def test_the_page_is_served_as_plain_files(server: Server) -> None:
    page = server.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '<script src="/static/app.js">' in page.text
    script = server.get("/static/app.js")
    assert script.status_code == 200 and "window.ttsintPage" in script.text


_json = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                  max_size=3), max_leaves=8)
_fields = st.fixed_dictionaries({}, optional={"input": _json | st.text(max_size=20), "voice": _json,
                                              "model": _json, "response_format": _json | st.sampled_from(
                                                  ["wav", "pcm", "mp3"]), "speed": _json,
                                              "sample_rate": _json, "stream_format": _json,
                                              "instructions": _json})


@settings(max_examples=200, deadline=None)
@given(st.one_of(_fields.map(lambda d: json.dumps(d).encode()), _json.map(lambda v: json.dumps(v).encode()),
                 st.binary(max_size=40)))
def test_any_request_body_parses_or_gets_a_4xx_naming_why(body: bytes) -> None:
    """No body makes request parsing raise anything but an APIError with a 4xx status (never a 500)."""
    try:
        parse_speech_request(body, max_chars=100)
    except APIError as exc:
        assert 400 <= exc.status < 500 and exc.body()["error"]["message"]


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000,
                                  b'{"input": "hi", "voice": "a", "response_format": []}',
                                  b'{"input": "hi", "voice": "a", "response_format": {"x": 1}}'],
                         ids=["deep", "format-list", "format-table"])
def test_hostile_bodies_get_a_400(body: bytes) -> None:
    with pytest.raises(APIError) as caught:
        parse_speech_request(body, max_chars=100)
    assert caught.value.status == 400
