"""A 60-second soak: mixed load (short and 300-word texts, clients that hang up, bad requests, every
response format, two voices) against a real server, with no error other than the intended ones."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from .conftest import demo, start_server

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.slow
def test_a_minute_of_mixed_load_makes_no_unintended_error(tmp_path_factory: pytest.TempPathFactory) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from bench_soak import soak
    finally:
        sys.path.remove(str(BENCHMARKS))
    server = start_server(tmp_path_factory.mktemp("soak"), "--addon", demo("a"), "--addon", demo("b"),
                          "--max-streams", "8", "--workers", "2")
    try:
        result = asyncio.run(soak("127.0.0.1", int(server.url.rsplit(":", 1)[1]), server.process.pid,
                                  seconds=60, streams=6, long_words=300))
    finally:
        server.stop()
    print(result)
    assert result["unintended_errors"] == 0, result["error_examples"]
    assert all(result["by_kind"].get(kind) for kind in ("bad", "disconnect", "short"))
    assert set(result["voices"]) == {"a", "b"} and result["requests"] > 20
    # A minute is short for an allocator to settle (the 10-minute bench holds the 5 % target); a leak of a
    # stream's buffers per request would still pass this bound by far.
    assert result["rss_growth"] <= 0.5, result  # 0.28 seen in one CI-like run on a quiet machine
    # Lateness is the machine's to decide on a shared CI runner; that it is measured is checked here.
    assert result["timed_streams"] > 0
