"""Fairness of `ttsint serve`: a one-sentence request's time to first audio while long texts stream.

    python benchmarks/bench_serve_fairness.py [--addon en-rms] [--streams 4] [--words 2000] [--repeats 5]

Starts a real server on 127.0.0.1, then measures, as a client sees it (request sent -> first body
bytes), the one-sentence request on the idle server (the baseline), and the same request while
STREAMS requests of WORDS words each are streaming, read as fast as the client can. Idle and loaded
measurements alternate, so a change in the machine's load hits both alike. Prints each sample, the
medians and their ratio (the target is at most 3).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).parent
SHORT = "The quick brown fox jumps over the lazy dog."


def long_text(words: int) -> str:
    """``words`` words of everyday sentences, cycled."""
    lines = [line.strip() for line in (HERE / "everyday.txt").read_text().splitlines() if line.strip()]
    out: list[str] = []
    count, i = 0, 0
    while count < words:
        out.append(lines[i % len(lines)])
        count += len(lines[i % len(lines)].split())
        i += 1
    return " ".join(out)


def timed(url: str, voice: str) -> tuple[float, float]:
    """Seconds from sending the one-sentence request to its first body bytes, and to its last."""
    with httpx.Client(timeout=600) as client:
        began = time.perf_counter()
        with client.stream("POST", url + "/v1/audio/speech", json={"voice": voice, "input": SHORT}) as r:
            r.raise_for_status()
            body = r.iter_raw()
            next(body)
            first = time.perf_counter() - began
            for _ in body:
                pass
    return first, time.perf_counter() - began


def wait_ready(server: subprocess.Popen, url: str, timeout: float = 600) -> str:
    """Wait until the server at ``url`` answers /readyz with 200; return its first voice's name."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/readyz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the server did not become ready")
        time.sleep(0.5)
    return httpx.get(url + "/v1/voices").json()["data"][0]["name"]


def first_audio(url: str, voice: str) -> float:
    """Seconds from sending the one-sentence request to its first body bytes; reads the rest too."""
    return timed(url, voice)[0]


class LongStream(threading.Thread):
    """One long text streamed and read as fast as possible until ``stop`` is set."""

    def __init__(self, url: str, voice: str, text: str) -> None:
        super().__init__(daemon=True)
        self.url, self.voice, self.text = url, voice, text
        self.started = threading.Event()
        self.stop = threading.Event()
        self.bytes = 0
        self.finished_early = False

    def run(self) -> None:
        with httpx.Client(timeout=3600) as client, client.stream(
                "POST", self.url + "/v1/audio/speech", json={"voice": self.voice, "input": self.text}) as r:
            r.raise_for_status()
            for piece in r.iter_raw():
                self.bytes += len(piece)
                self.started.set()
                if self.stop.is_set():
                    return
            self.finished_early = True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", default="en-rms")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--port", type=int, default=8770)
    args = parser.parse_args()

    url = f"http://127.0.0.1:{args.port}"
    text = long_text(args.words)
    server = subprocess.Popen([sys.executable, "-m", "ttsint", "serve", "--addon", args.addon, "--port",
                               str(args.port), "--max-streams", str(args.streams + 2), "--max-chars",
                               str(len(text) + 1), "--log-level", "warning"])
    try:
        voice = wait_ready(server, url)
        first_audio(url, voice)  # warm-up: first use of each code path

        idle, loaded = [], []
        for _ in range(args.repeats):
            idle.append(first_audio(url, voice))
            streams = [LongStream(url, voice, text) for _ in range(args.streams)]
            for s in streams:
                s.start()
            for s in streams:
                s.started.wait(600)
            loaded.append(first_audio(url, voice))
            early = sum(s.finished_early for s in streams)
            for s in streams:
                s.stop.set()
            for s in streams:
                s.join(600)
            if early:
                print(f"warning: {early} long stream(s) ended before the measurement finished")
        print(f"addon {args.addon}: one sentence ({len(SHORT)} chars) vs {args.streams} streams of "
              f"{args.words} words ({len(text)} chars) each")
        print("idle   (s): " + " ".join(f"{t:.3f}" for t in idle))
        print("loaded (s): " + " ".join(f"{t:.3f}" for t in loaded))
        ratio = statistics.median(loaded) / statistics.median(idle)
        print(f"median time to first audio: idle {statistics.median(idle):.3f} s, "
              f"under {args.streams} long streams {statistics.median(loaded):.3f} s, ratio {ratio:.2f} "
              f"(target <= 3)")
    finally:
        server.terminate()
        server.wait(120)


if __name__ == "__main__":
    main()
