"""The `openai` package, unchanged, against `ttsint serve` with its default voices (en-rms)."""

from __future__ import annotations

from openai import OpenAI

from .conftest import Server, assert_valid_wav


def test_with_no_addon_every_installed_voice_that_makes_audio_is_served(default_server: Server) -> None:
    names = [v["name"] for v in default_server.get("/v1/voices").json()["data"]]
    assert "en-rms" in names and "demo" not in names
    ready = default_server.get("/readyz").json()
    assert ready["ready"] and ready["voices"]["en-rms"] == "ready"
    assert "makes mel, not audio" in ready["skipped"]["demo"]


def test_the_openai_client_streams_a_wav(default_server: Server) -> None:
    client = OpenAI(base_url=default_server.url + "/v1", api_key="not-needed", max_retries=0)
    assert "en-rms" in [m.id for m in client.models.list()]
    received: list[bytes] = []
    with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="en-rms", input="Hello from the open A I client.",
            response_format="wav") as response:
        assert response.headers["content-type"] == "audio/wav"
        for piece in response.iter_bytes():
            received.append(piece)
    samples = assert_valid_wav(b"".join(received))
    assert samples > 16000  # over a second of speech
