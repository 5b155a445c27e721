"""The HTTP app in-process (Starlette's TestClient over httpx, with its lifespan): fast-tier serve tests.

The same app as `ttsint serve` builds, with the same pool and scheduler, without a socket or a
subprocess; test_app.py keeps the real server for what needs one (streaming before the end,
disconnects, ports, signals).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from ttsint_serve.app import create_app
from ttsint_serve.pool import VoicePool
from ttsint_serve.scheduler import Scheduler
from ttsint_serve.specs import parse_voice_spec

from .conftest import DEMO, assert_valid_wav

SHORT = "Hello world, this is a streaming test."


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    pool = VoicePool([parse_voice_spec(f"{DEMO},name=demo-a"), parse_voice_spec("no-such-addon")])
    app = create_app(pool, Scheduler(workers=1, max_streams=4))
    with TestClient(app) as client:
        deadline = time.monotonic() + 300
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "the demo voice did not load"
            time.sleep(0.1)
        yield client


def test_ready_with_the_voice_that_loads_and_the_failure_named(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    body = client.get("/readyz").json()
    assert body["ready"] is True and body["voices"]["demo-a"] == "ready"
    assert "no addon directory or registered addon named 'no-such-addon'" in body["failed"]["no-such-addon"]


def test_the_voice_is_listed_with_its_block_tree(client: TestClient) -> None:
    voices = {v["name"]: v for v in client.get("/v1/voices").json()["data"]}
    tree = voices["demo-a"]["tree"]
    paths = []

    def visit(node: dict) -> None:
        paths.append((node["path"], node["type"], node["distribution"]))
        for child in node.get("children", []):
            visit(child)

    visit(tree)
    assert ("stack[0].sequence_block", "Encoders", "ttsint-encoders") in paths
    assert ("stack[1]", "GriffinLim", "ttsint-dsp") in paths


def test_speech_is_a_valid_wav(client: TestClient) -> None:
    body = {"voice": "demo-a", "input": SHORT, "response_format": "wav"}
    response = client.post("/v1/audio/speech", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert assert_valid_wav(response.content) > 16000 // 4


def test_a_bad_request_names_its_field(client: TestClient) -> None:
    response = client.post("/v1/audio/speech", json={"voice": "demo-a", "input": SHORT, "speed": "fast"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "speed" and error["message"]
    unknown = client.post("/v1/audio/speech", json={"voice": "nobody", "input": SHORT})
    assert unknown.status_code in (400, 404) and "nobody" in unknown.json()["error"]["message"]


@pytest.fixture(scope="module")
def piper_kokoro_client() -> Iterator[TestClient]:
    pool = VoicePool([parse_voice_spec("en_US-joe-medium"), parse_voice_spec("kokoro-af_heart")])
    app = create_app(pool, Scheduler(workers=1, max_streams=4))
    with TestClient(app) as client:
        deadline = time.monotonic() + 300
        while client.get("/readyz").json().get("loading"):
            assert time.monotonic() < deadline, "the voices did not load"
            time.sleep(0.1)
        yield client


@pytest.mark.slow  # loads Piper's joe and Kokoro (about 10 s on 2 cores) and speaks six times
@pytest.mark.parametrize("voice", ["en_US-joe-medium", "kokoro-af_heart"])
def test_speed_on_piper_and_kokoro_is_a_request_parameter(piper_kokoro_client: TestClient,
                                                          voice: str) -> None:
    """speed 1.5 on voices without a pace block: their blocks read the request's speed (no 400, no copy)."""
    card = {v["name"]: v for v in piper_kokoro_client.get("/v1/voices").json()["data"]}[voice]
    assert card["speed"] is True and card["honours"]["speed"] is True
    samples = {}
    for speed in (1.0, 1.5):
        body = {"voice": voice, "input": SHORT, "response_format": "pcm", "speed": speed,
                "sample_rate": card["sample_rate"]}
        response = piper_kokoro_client.post("/v1/audio/speech", json=body)
        assert response.status_code == 200, response.text
        samples[speed] = len(response.content) // 2
    # Piper rounds durations up per phoneme and draws them with noise, so its ratio is near 1.35-1.5.
    assert 1.2 <= samples[1.0] / samples[1.5] <= 1.7, samples
