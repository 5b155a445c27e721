"""A Kokoro voice mix named only in a request is made on demand by the server (in-process ASGI app)."""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("ttsint_serve")
from starlette.testclient import TestClient  # noqa: E402
from ttsint_serve import pool as pool_module  # noqa: E402
from ttsint_serve.app import create_app  # noqa: E402
from ttsint_serve.pool import VoicePool  # noqa: E402
from ttsint_serve.scheduler import Scheduler  # noqa: E402
from ttsint_serve.specs import parse_voice_spec  # noqa: E402

pytestmark = pytest.mark.slow  # the 82M-parameter network speaks

MIX = "kokoro-af_heart*0.6+am_michael*0.4"


@pytest.fixture(scope="module")
def served(library: Path) -> Iterator[tuple[TestClient, VoicePool]]:
    pool = VoicePool([parse_voice_spec("kokoro-af_heart")])
    with TestClient(create_app(pool, Scheduler(workers=1, max_streams=4))) as client:
        deadline = time.monotonic() + 300
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "kokoro-af_heart did not load"
            time.sleep(0.1)
        yield client, pool


def test_a_mix_named_in_a_request_is_made_and_speaks_at_24khz(served) -> None:
    client, pool = served
    reply = client.post("/v1/audio/speech", json={"voice": MIX, "input": "Good morning.",
                                                  "response_format": "wav"})
    assert reply.status_code == 200, reply.text
    with wave.open(io.BytesIO(reply.content)) as w:
        assert w.getframerate() == 24_000 and w.getnframes() > 24_000 // 4
    assert MIX in pool.ready_names()
    made = pool.find(MIX)
    again = client.post("/v1/audio/speech", json={"voice": MIX, "input": "Hi.", "response_format": "pcm"})
    assert again.status_code == 200 and pool.find(MIX) is made  # made once, then reused


@pytest.mark.parametrize(("name", "message"), [
    ("kokoro-af_heart*0+am_michael", "weights must be positive"),
    ("kokoro-af_heart*-1+am_michael*2", "weights must be positive"),
    ("kokoro-af_heart*x+am_michael", "is not a number"),
    ("kokoro-af_heart+nobody_here", "names the pack 'nobody_here', which is not installed"),
])
def test_a_bad_mix_in_a_request_is_a_400_that_says_why(served, name: str, message: str) -> None:
    client, _ = served
    reply = client.post("/v1/audio/speech", json={"voice": name, "input": "Hi.", "response_format": "wav"})
    assert reply.status_code == 400, reply.text
    assert message in reply.json()["error"]["message"]
    assert reply.json()["error"]["param"] == "voice"


def test_an_unknown_plain_name_is_still_a_404(served) -> None:
    client, _ = served
    reply = client.post("/v1/audio/speech", json={"voice": "kokoro-nobody", "input": "Hi."})
    assert reply.status_code == 404


def test_voices_made_on_request_are_bounded(served, monkeypatch: pytest.MonkeyPatch) -> None:
    _, pool = served
    monkeypatch.setattr(pool_module, "_ON_DEMAND", 2)
    names = [f"kokoro-af_heart*{w}+am_michael*1" for w in (0.3, 0.5, 0.7)]
    for name in names:
        assert pool.find(name) is not None
    ready = pool.ready_names()
    assert names[0] not in ready and names[1] in ready and names[2] in ready
