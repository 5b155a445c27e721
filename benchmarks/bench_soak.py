"""Soak of `ttsint serve`: minutes of mixed load at a set share of measured capacity, checked for errors.

    python benchmarks/bench_soak.py [--minutes 10] [--streams 26] [--addon en-rms ...] [--port 8795]

Starts a real server on 127.0.0.1 (every installed voice unless --addon is given) and keeps STREAMS
clients busy (80 % of the capacity bench_capacity.py measured: 26 of en-rms's 32), each sending
one request after another, drawn at random:

- short texts (one sentence) and 2,000-word texts, read as fast as the client can;
- clients that disconnect after some of the audio;
- bad requests (broken JSON, an unknown voice, an unsupported format, a speed out of range);
- every response format the server lists, and every voice it serves.

It reports errors other than the intended ones (target 0): a 5xx, a connection error or a stream cut
off, a 4xx answering a good request, or a bad request not answered 4xx. 429 is intended (admission
refuses instead of letting streams stutter). It reports the server's RSS growth from minute 2 to the
end (target at most 5 %), and the share of admitted wav and pcm streams, read to their end, that
stayed real-time (never more than 0.25 s short of audio after their first; target 100 %).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
SLACK = 0.25
SHORT = ["The quick brown fox jumps over the lazy dog.", "Please call me back this afternoon.",
         "A large crowd gathered at the station to watch the first train arrive.", "Yes. No. Maybe later!"]
RAW = {"wav": 44, "pcm": 0}  # formats whose bytes after a header are 16-bit mono samples


def long_text(words: int) -> str:
    """``words`` words of everyday sentences, cycled."""
    lines = [line.strip() for line in (HERE / "everyday.txt").read_text().splitlines() if line.strip()]
    out: list[str] = []
    count = 0
    while count < words:
        line = lines[len(out) % len(lines)]
        out.append(line)
        count += len(line.split())
    return " ".join(out)


@dataclass
class Outcome:
    kind: str
    status: int = 0
    error: str = ""
    late: float | None = None
    bytes: int = 0
    extra: dict = field(default_factory=dict)


async def fetch(host: str, port: int, body: bytes, *, stop_after: int | None = None,
                raw_header: int | None = None, timeout: float = 300.0) -> Outcome:
    """``_fetch`` with a deadline: a request that neither ends nor fails in ``timeout`` s is an error."""
    try:
        return await asyncio.wait_for(_fetch(host, port, body, stop_after=stop_after, raw_header=raw_header),
                                      timeout)
    except TimeoutError:
        return Outcome("", error=f"no end within {timeout:.0f} s")


async def _fetch(host: str, port: int, body: bytes, *, stop_after: int | None = None,
                 raw_header: int | None = None) -> Outcome:
    """POST a speech request; read its chunked body (up to ``stop_after`` bytes, then hang up).

    For raw formats (``raw_header`` bytes before 16-bit mono samples), the lateness of the stream as
    a listener would hear it, from the X-Sample-Rate header.
    """
    out = Outcome("")
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        out.error = f"connect: {exc}"
        return out
    try:
        writer.write(b"POST /v1/audio/speech HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
        line = await reader.readline()
        out.status = int(line.split()[1]) if line else 0
        chunked, rate = False, 0
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            chunked |= name == "transfer-encoding" and "chunked" in value.lower()
            if name == "x-sample-rate":
                rate = int(value)
        if out.status != 200 or not chunked:
            out.extra["body"] = (await reader.read())[:300].decode("utf-8", "replace")
            return out
        first, late = None, 0.0
        while True:
            size_line = await reader.readline()
            if not size_line:
                out.error = "the stream was cut off"
                return out
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            await reader.readexactly(size + 2)
            now = time.perf_counter()
            if raw_header is not None and rate:
                audio = max(0, out.bytes - raw_header) / (2 * rate)
                if first is None:
                    first = now
                else:
                    late = max(late, now - first - audio)
            out.bytes += size
            if stop_after is not None and out.bytes >= stop_after:
                return out  # hang up mid-stream
        if raw_header is not None:
            out.late = late
        return out
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        out.error = f"{type(exc).__name__}: {exc}"
        return out
    finally:
        writer.close()


BAD = [
    (b"{not json", "broken JSON"),
    (json.dumps({"voice": "no-such-voice-here", "input": "Hello."}).encode(), "unknown voice"),
    (json.dumps({"voice": "VOICE", "input": "Hello.", "response_format": "ogg-vorbis"}).encode(), "format"),
    (json.dumps({"voice": "VOICE", "input": "Hello.", "speed": 40}).encode(), "speed"),
    (json.dumps({"voice": "VOICE", "input": ""}).encode(), "empty input"),
]


async def client(host: str, port: int, voices: list[str], formats: list[str], until: float,
                 rng: random.Random, outcomes: list[Outcome], long: str) -> None:
    while time.perf_counter() < until:
        roll = rng.random()
        voice, fmt = rng.choice(voices), rng.choice(formats)
        if roll < 0.1:
            body, what = rng.choice(BAD)
            out = await fetch(host, port, body.replace(b"VOICE", voice.encode()), timeout=30)
            out.kind = f"bad:{what}"
        else:
            text = long if roll > 0.95 else rng.choice(SHORT)
            body = json.dumps({"voice": voice, "input": text, "response_format": fmt}).encode()
            hang_up = roll < 0.25
            out = await fetch(host, port, body, stop_after=rng.randint(1, 40_000) if hang_up else None,
                              raw_header=RAW.get(fmt), timeout=300 if text is long else 60)
            out.kind = ("disconnect" if hang_up else "long" if text is long else "short") + f":{fmt}"
            if out.error:
                out.kind += f":{body[:80]!r}"
        outcomes.append(out)
        if out.status == 429:
            await asyncio.sleep(rng.uniform(0.2, 1.0))  # a refused client comes back a little later


def unintended(out: Outcome) -> str | None:
    """Why an outcome is an error the server should not have made, or None."""
    if out.error:
        return out.error
    if out.kind.startswith("bad:"):
        return None if 400 <= out.status < 500 and out.status != 429 else f"bad request answered {out.status}"
    if out.status in (200, 429):
        return None
    return f"status {out.status}: {out.extra.get('body', '')[:200]}"


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def soak(host: str, port: int, pid: int, seconds: float, streams: int, seed: int = 0,
               long_words: int = 2000, grace: float = 10.0) -> dict:
    """Run the mixed load for ``seconds`` against a ready server; the figures as a dict."""
    import httpx

    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=60) as http:
        data = (await http.get("/v1/voices")).json()["data"]
    voices = [v["name"] for v in data if v.get("status") == "ready"]
    from ttsint_serve.formats import FORMATS

    formats = list(FORMATS)
    outcomes: list[Outcome] = []
    began = time.perf_counter()
    until = began + seconds
    mark = began + min(120.0, 0.2 * seconds)  # RSS from here (minute 2 of ten) to the end
    samples: list[tuple[float, int]] = []

    async def sample_rss() -> None:
        while time.perf_counter() < until:
            samples.append((time.perf_counter(), rss(pid)))
            await asyncio.sleep(1.0)

    long = long_text(long_words)
    rngs = [random.Random(seed * 1000 + i) for i in range(streams)]
    sampler = asyncio.create_task(sample_rss())
    clients = [asyncio.create_task(client(host, port, voices, formats, until, rngs[i], outcomes, long))
               for i in range(streams)]
    # At the end, requests still running are given up (their clients hang up): not counted either way.
    await asyncio.wait(clients, timeout=seconds + grace)
    for task in clients:
        task.cancel()
    await asyncio.gather(sampler, *clients, return_exceptions=True)
    at_mark = next((r for t, r in samples if t >= mark), samples[0][1])
    end = samples[-1][1]
    errors = [(o.kind, why) for o in outcomes if (why := unintended(o))]
    timed = [o for o in outcomes if o.late is not None and o.status == 200]
    return {
        "seconds": round(time.perf_counter() - began, 1), "voices": voices, "formats": formats,
        "requests": len(outcomes), "by_status": dict(Counter(o.status for o in outcomes)),
        "by_kind": dict(Counter(o.kind.split(":")[0] for o in outcomes)),
        "unintended_errors": len(errors), "error_examples": errors[:5],
        "rss_mark_mb": round(at_mark / 2**20, 1), "rss_end_mb": round(end / 2**20, 1),
        "rss_growth": round(end / at_mark - 1, 4),
        "timed_streams": len(timed), "real_time_share": (sum(o.late <= SLACK for o in timed) / len(timed)
                                                         if timed else float("nan")),
        "worst_lateness": max((o.late for o in timed), default=0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--streams", type=int, default=26, help="busy clients (80%% of measured capacity)")
    parser.add_argument("--addon", action="append", help="voices to serve (default: every installed one)")
    parser.add_argument("--port", type=int, default=8795)
    parser.add_argument("--server-args", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_capacity import wait_ready

    cmd = [sys.executable, "-m", "ttsint", "serve", "--port", str(args.port), "--max-streams", "64",
           "--log-level", "warning", *[a for addon in args.addon or [] for a in ("--addon", addon)],
           *args.server_args.split()]
    server = subprocess.Popen(cmd)
    try:
        wait_ready(server, "127.0.0.1", args.port)
        result = asyncio.run(soak("127.0.0.1", args.port, server.pid, 60 * args.minutes, args.streams))
    finally:
        server.terminate()
        server.wait(120)
    for key, value in result.items():
        print(f"{key:18} {value}")
    print(f"unintended errors {result['unintended_errors']} (target 0); "
          f"RSS growth {result['rss_growth']:.1%} "
          f"(target <= 5 %); real-time {result['real_time_share']:.1%} of {result['timed_streams']} admitted "
          "wav/pcm streams (target 100 %)")


if __name__ == "__main__":
    main()
