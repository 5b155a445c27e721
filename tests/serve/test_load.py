"""A bounded load test: 100 concurrent requests against --max-streams 16; each ends 200 or 429, none hangs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from .conftest import DEMO, Server, assert_valid_wav, start_server

REQUESTS = 100
TEXT = "Many voices, one service, and every stream on time."


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(tmp_path_factory.mktemp("load"), "--addon", DEMO, "--max-streams", "16",
                          "--workers", "2")
    yield server
    server.stop()


async def burst(url: str) -> list[tuple[int, bytes, httpx.Headers]]:
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        async def one() -> tuple[int, bytes, httpx.Headers]:
            response = await client.post("/v1/audio/speech",
                                         json={"voice": "demo", "input": TEXT, "response_format": "wav"})
            return response.status_code, response.content, response.headers

        return await asyncio.wait_for(asyncio.gather(*(one() for _ in range(REQUESTS))), timeout=600)


@pytest.mark.slow
def test_a_hundred_at_once(loaded: Server) -> None:
    warm = asyncio.run(burst(loaded.url))  # the first burst grows the allocator's arenas
    assert {status for status, _, _ in warm} <= {200, 429}
    loaded.wait_for(lambda: loaded.metric("ttsint_active_streams") == 0, "the warm-up to drain")
    baseline = loaded.rss_bytes()
    before = loaded.metrics()

    results = asyncio.run(burst(loaded.url))
    ok = [content for status, content, _ in results if status == 200]
    busy = [(content, headers) for status, content, headers in results if status == 429]
    assert len(ok) + len(busy) == REQUESTS, sorted({status for status, _, _ in results})
    assert ok, "no request was served"
    lengths = {assert_valid_wav(content) for content in ok}
    assert len(lengths) == 1  # the same text, the same audio, however crowded the server was
    for content, headers in busy:
        # Retry-After says when a slot is likely free, from how long streams last: whole seconds, 1 to 60.
        assert 1 <= int(headers["retry-after"]) <= 60 and b"rate_limit_error" in content

    after = loaded.metrics()

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("ttsint_requests_total", voice="demo", status="200") == len(ok)
    assert grew("ttsint_requests_total", voice="demo", status="429") == len(busy)
    assert grew("ttsint_streams_rejected_total") == len(busy)
    loaded.wait_for(lambda: loaded.metric("ttsint_active_streams") == 0, "every stream to finish")
    assert loaded.rss_bytes() < baseline * 1.25 + 64 * 2**20, (baseline, loaded.rss_bytes())
    assert_valid_wav(loaded.speech(voice="demo", input=TEXT).content)
