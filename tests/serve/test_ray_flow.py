"""Flow control of a Ray Serve voice replica, without a Ray cluster.

Ray Serve reads a replica's ``speak`` generator as fast as it yields (its streaming handles have no
back-pressure, and the ingress's ASGI ``send`` never blocks), so the replica itself must bound what it
makes ahead of a listener: its scheduler rests a stream that is ``REPLICA_LEAD`` seconds beyond real time.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from .conftest import DEMO, LONG_TEXT

if not os.environ.get("CI"):  # CI installs Ray (setup.sh) and must run this module
    pytest.importorskip("ray.serve", reason="Ray Serve is not installed: pip install 'ttsint[ray]'")

LEAD = 0.3
READ_FOR = 1.0
"""Seconds of wall time the test reads for: LONG_TEXT is minutes of audio, which the demo voice makes
many times faster than real time when nothing paces it."""


def test_a_replica_read_at_once_makes_no_more_than_its_lead_beyond_real_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ttsint_serve import rayserve

    monkeypatch.setattr(rayserve, "REPLICA_LEAD", LEAD)
    replica = rayserve.VoiceReplica(DEMO)
    rate = replica.entry.sample_rate

    async def read() -> tuple[float, float, float, int]:
        """Read ``speak`` as Ray Serve does (at once) for READ_FOR s; the most audio seen beyond real time
        since the first chunk, the longest chunk, the audio read, and the streams open after closing."""
        gen = replica.speak(LONG_TEXT)
        first, made, ahead, longest = None, 0, 0.0, 0.0
        try:
            async for item in gen:
                now = time.perf_counter()
                assert item["frames"] is not None, "LONG_TEXT ended within the test's reading time"
                first = first or now
                made += len(item["frames"])
                longest = max(longest, len(item["frames"]) / rate)
                ahead = max(ahead, made / rate - (now - first))
                if now - first > READ_FOR:
                    break
        finally:
            await gen.aclose()  # as Ray does when the ingress cancels the call: the stream is cancelled
        deadline = time.monotonic() + 60
        while replica.scheduler.active and time.monotonic() < deadline:  # a worker closes its generator
            await asyncio.sleep(0.01)
        return ahead, longest, made / rate, replica.scheduler.active

    try:
        ahead, longest, audio, left_open = asyncio.run(read())
    finally:
        replica.scheduler.close()
        replica.pool.close()
    # The worker's first chunk is a little before the reader's, so allow a tenth of a second for that.
    assert ahead <= LEAD + longest + 0.1, (ahead, longest, audio)
    assert audio >= READ_FOR  # paced, not stopped: it kept up with real time
    assert left_open == 0 and replica.cancelled == 1
