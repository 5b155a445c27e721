"""Soak of `ttsint serve`: minutes of mixed load at a set share of measured capacity, checked for errors.

    python benchmarks/bench_soak.py [--minutes 10] [--load 0.8 | --streams N] [--addon en-rms ...]
                                    [--port 8795] [--log soak-server.log]

Starts a real server on 127.0.0.1 (every installed voice unless --addon is given) and keeps STREAMS
clients busy, each sending one request after another, drawn at random. STREAMS defaults to ``--load``
(80 %) of the capacity measured at the start: cores ÷ the served voices' mean CPU-seconds per audio
second, each from one warm request in each response format (en-rms alone: a few tens of clients; with
Piper's and Kokoro's voices, a few). The requests:

- short texts (one sentence) and 2,000-word texts, read as fast as the client can (a quarter of the
  clients at most in a long text at once: each lasts minutes, and uncapped, the 10-minute soak of session 8
  ended with all its clients in one);
- clients that disconnect after some of the audio;
- bad requests (broken JSON, an unknown voice, an unsupported format, a speed out of range);
- every response format the server lists, and every voice it serves.

It reports errors other than the intended ones (target 0): a 5xx, a connection error or a stream cut
off, a 4xx answering a good request, a bad request not answered 4xx, or a request that does not end
within the time a real-time listener needs for its audio (plus a minute). 429 is intended (admission
refuses instead of letting streams stutter), and so is the end of a stream this bench hangs up on.
It reports the server's RSS growth from minute 2 to the end (target at most 5 %), and the share of
admitted wav and pcm streams that stayed real-time (never more than 0.25 s short of audio after their
first; target 100 %), per voice too. Streams still running when the soak ends are given up: counted
in that share by their lateness so far, never as errors. The server's log goes to ``--log``; its
ERROR lines are counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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
MAX_STREAMS = 64
_CALIBRATION_TRIES = 24  # 5 s apart: longer than the scheduler keeps refusing a voice measured too slow
WORDS_PER_SECOND = 2.0
"""Slower than any voice here speaks at speed 1 (en-rms reads about 2.6 words a second): a request's
deadline is its words at this rate plus a minute, the most a stream kept in real time can need."""


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
    voice: str = ""
    status: int = 0
    error: str = ""
    late: float | None = None
    bytes: int = 0
    done: bool = False
    first: float | None = None  # when a raw stream's first audio arrived
    audio: float = 0.0  # seconds of a raw stream's audio received
    extra: dict = field(default_factory=dict)


async def fetch(host: str, port: int, body: bytes, *, stop_after: int | None = None,
                raw_header: int | None = None, timeout: float = 300.0, out: Outcome | None = None) -> Outcome:
    """``_fetch`` with a deadline: a request that neither ends nor fails in ``timeout`` s is an error.
    ``out`` is filled as the request goes, so a request given up at the end still shows how far it got."""
    out = out if out is not None else Outcome("")
    try:
        await asyncio.wait_for(_fetch(host, port, body, out, stop_after=stop_after, raw_header=raw_header),
                               timeout)
    except TimeoutError:
        out.error = f"no end within {timeout:.0f} s ({out.bytes} bytes read)"
    out.done = True
    return out


async def _fetch(host: str, port: int, body: bytes, out: Outcome, *, stop_after: int | None = None,
                 raw_header: int | None = None) -> Outcome:
    """POST a speech request; read its chunked body (up to ``stop_after`` bytes, then hang up).

    For raw formats (``raw_header`` bytes before 16-bit mono samples), the lateness of the stream as
    a listener would hear it, from the X-Sample-Rate header: ``out.late`` is kept up to date.
    """
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
        if raw_header is not None and rate:
            out.late = 0.0
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
            timed = raw_header is not None and rate
            audio = max(0, out.bytes + size - (raw_header or 0)) / (2 * rate) if timed else 0.0
            if audio:  # timed from the first audio: a header sent ahead of it is nothing to hear
                if out.first is None:
                    out.first = now
                elif now - out.first - out.audio > (out.late or 0.0):  # the audio before had to last till now
                    out.late = now - out.first - out.audio
                    out.extra["late_at"] = (now, out.audio)  # when, and how far into the stream
                out.audio = audio
            out.bytes += size
            if stop_after is not None and out.bytes >= stop_after:
                return out  # hang up mid-stream
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
                 rng: random.Random, outcomes: list[Outcome], long: str, longs: dict[str, int]) -> None:
    """One client's requests until ``until``; ``longs``: how many clients read the long text now, and the
    most that may (a long text lasts minutes, so uncapped, every client of a long soak ends up in one)."""
    while time.perf_counter() < until:
        roll = rng.random()
        voice, fmt = rng.choice(voices), rng.choice(formats)
        if roll < 0.1:
            body, what = rng.choice(BAD)
            out = Outcome(f"bad:{what}", voice)
            outcomes.append(out)
            await fetch(host, port, body.replace(b"VOICE", voice.encode()), timeout=30, out=out)
        else:
            text = long if roll > 0.95 and longs["now"] < longs["most"] else rng.choice(SHORT)
            body = json.dumps({"voice": voice, "input": text, "response_format": fmt}).encode()
            hang_up = roll < 0.25
            kind = "disconnect" if hang_up else "long" if text is long else "short"
            out = Outcome(f"{kind}:{fmt}", voice)
            outcomes.append(out)
            longs["now"] += text is long
            try:
                await fetch(host, port, body, stop_after=rng.randint(1, 40_000) if hang_up else None,
                            raw_header=RAW.get(fmt), out=out,
                            timeout=60 + len(text.split()) / WORDS_PER_SECOND)
            finally:
                longs["now"] -= text is long
            if out.error:
                out.kind += f":{body[:80]!r}"
        if out.status == 429:
            await asyncio.sleep(rng.uniform(0.2, 1.0))  # a refused client comes back a little later


def unintended(out: Outcome) -> str | None:
    """Why an outcome is an error the server should not have made, or None (also for one given up)."""
    if not out.done:
        return None
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
    longs = {"now": 0, "most": max(1, streams // 4)}
    clients = [asyncio.create_task(client(host, port, voices, formats, until, rngs[i], outcomes, long, longs))
               for i in range(streams)]
    # At the end, requests still running are given up (their clients hang up): never errors, and a raw
    # stream's lateness counts as far as it got, including a wait for its next chunk.
    await asyncio.wait(clients, timeout=seconds + grace)
    ended = time.perf_counter()
    for out in outcomes:
        if not out.done and out.first is not None and out.late is not None:
            if ended - out.first - out.audio > out.late:  # its worst wait is the one the end cut short
                out.late = ended - out.first - out.audio
                out.extra.pop("late_at", None)
    for task in clients:
        task.cancel()
    await asyncio.gather(sampler, *clients, return_exceptions=True)
    at_mark = next((r for t, r in samples if t >= mark), samples[0][1])
    end = samples[-1][1]
    errors = [(o.voice, o.kind, why) for o in outcomes if (why := unintended(o))]
    timed = [o for o in outcomes if o.late is not None and o.status == 200]

    def share(streams: list[Outcome]) -> str:
        return f"{sum(o.late <= SLACK for o in streams)}/{len(streams)}"

    return {
        "seconds": round(time.perf_counter() - began, 1), "voices": voices, "formats": formats,
        "requests": len(outcomes), "given_up": sum(not o.done for o in outcomes),
        "by_status": dict(Counter(o.status for o in outcomes)),
        "by_kind": dict(Counter(o.kind.split(":")[0] for o in outcomes)),
        "unintended_errors": len(errors), "error_examples": errors[:5],
        "errors_by_cause": dict(Counter((v, k.split(":")[0], why[:120]) for v, k, why in errors)),
        "real_time_by_voice": {v: share([o for o in timed if o.voice == v]) for v in voices},
        "rss_mark_mb": round(at_mark / 2**20, 1), "rss_end_mb": round(end / 2**20, 1),
        "rss_growth": round(end / at_mark - 1, 4),
        "timed_streams": len(timed), "real_time_share": (sum(o.late <= SLACK for o in timed) / len(timed)
                                                         if timed else float("nan")),
        "worst_lateness": max((o.late for o in timed), default=0.0),
        "late_streams": [(o.voice, ":".join(o.kind.split(":")[:2]), round(o.late, 2), round(o.audio, 1),
                          "finished" if o.done else "given up", *_late_at(o, began))
                         for o in sorted(timed, key=lambda o: -o.late) if o.late > SLACK][:8],
    }


def _late_at(out: Outcome, began: float) -> tuple[str, ...]:
    """Where a late stream's worst wait ended: seconds into the soak, and its audio received by then (nothing
    when that was the wait for a next chunk that had not come when the soak ended)."""
    if "late_at" not in out.extra:
        return ()
    at, audio = out.extra["late_at"]
    return (f"worst wait ended {at - began:.1f} s into the soak (monotonic clock {at:.1f}), "
            f"after {audio:.1f} s of its audio",)


def calibrate(host: str, port: int, pid: int, load: float, max_streams: int) -> tuple[int, dict[str, float]]:
    """Clients for ``load`` of the capacity: each ready voice's server CPU-seconds per audio second, from one
    warm request of bench_capacity's text in each response format (encoding is part of the cost: raw PCM
    alone made en-rms look three times cheaper), and ``load`` × cores ÷ their mean (voices are drawn at
    random), at least 1 and at most the server's ``max_streams``. A request refused (429) is sent again: a
    voice whose cold first request measured it slower than real time is refused for a while, and a refused
    request costs nothing, which once made Kokoro look free (0.0)."""
    import httpx
    from bench_capacity import TEXT, process_cpu
    from ttsint_serve.formats import FORMATS

    def served(name: str, fmt: str) -> tuple[float, Outcome]:
        """The server's CPU-seconds for one request of TEXT that it served, and its outcome."""
        body = json.dumps({"voice": name, "input": TEXT, "response_format": fmt}).encode()
        for _ in range(_CALIBRATION_TRIES):
            before = process_cpu(pid)
            out = asyncio.run(fetch(host, port, body, raw_header=RAW.get(fmt), timeout=600))
            if out.status != 429:
                if out.status != 200 or out.error:
                    raise SystemExit(f"calibration: {name} {fmt} answered {out.status} {out.error}")
                return process_cpu(pid) - before, out
            time.sleep(5.0)
        raise SystemExit(f"calibration: {name} refused {_CALIBRATION_TRIES} times in a row (429)")

    costs: dict[str, float] = {}
    for info in httpx.get(f"http://{host}:{port}/v1/voices", timeout=60).json()["data"]:
        if info.get("status") != "ready":
            continue
        name = info["name"]
        _, warm = served(name, "pcm")  # warm-up, and the text's length in this voice
        cpu = sum(served(name, fmt)[0] for fmt in FORMATS)
        costs[name] = round(cpu / len(FORMATS) / max(warm.audio, 1e-9), 4)
    mean = sum(costs.values()) / max(1, len(costs))
    return min(max_streams, max(1, round(load * (os.cpu_count() or 1) / max(mean, 1e-9)))), costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--streams", type=int, help="busy clients (default: --load of the capacity measured "
                        "at the start: cores / the voices' mean CPU-seconds per audio second)")
    parser.add_argument("--load", type=float, default=0.8, help="share of the capacity (default 0.8)")
    parser.add_argument("--addon", action="append", help="voices to serve (default: every installed one)")
    parser.add_argument("--port", type=int, default=8795)
    parser.add_argument("--server-args", default="")
    parser.add_argument("--log", type=Path, default=Path("soak-server.log"), help="the server's output")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_capacity import wait_ready

    cmd = [sys.executable, "-m", "ttsint", "serve", "--port", str(args.port),
           "--max-streams", str(MAX_STREAMS), "--log-level", "warning",
           *[a for addon in args.addon or [] for a in ("--addon", addon)],
           *args.server_args.split()]
    with args.log.open("wb") as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(server, "127.0.0.1", args.port)
        streams = args.streams
        if streams is None:
            streams, costs = calibrate("127.0.0.1", args.port, server.pid, args.load, MAX_STREAMS)
            print(f"CPU-s per audio second, one request per format: {costs}; {args.load:.0%} of the capacity "
                  f"of {os.cpu_count()} cores, voices drawn at random: {streams} streams", flush=True)
        result = asyncio.run(soak("127.0.0.1", args.port, server.pid, 60 * args.minutes, streams))
        result["streams"] = streams
    finally:
        server.terminate()
        server.wait(120)
    lines = args.log.read_text(errors="replace").splitlines()
    logged = [line for line in lines if line.startswith(("ERROR", "Traceback"))]
    result["server_log_errors"] = len(logged)
    result["server_log_warnings"] = sum(line.startswith("WARNING") for line in lines)
    result["server_log_examples"] = (logged + [line for line in lines if line.startswith("WARNING")])[:5]
    for key, value in result.items():
        print(f"{key:18} {value}")
    print(f"unintended errors {result['unintended_errors']} (target 0); "
          f"RSS growth {result['rss_growth']:.1%} "
          f"(target <= 5 %); real-time {result['real_time_share']:.1%} of {result['timed_streams']} admitted "
          "wav/pcm streams (target 100 %)")


if __name__ == "__main__":
    main()
