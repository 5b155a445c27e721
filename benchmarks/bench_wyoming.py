"""Time to first audio over Wyoming against HTTP, from one `ttsint serve --wyoming` process.

    python benchmarks/bench_wyoming.py [--addon en-rms] [--repeats 9]

Starts a real server on 127.0.0.1 serving both protocols from the same voice pool and scheduler,
then measures, as a client sees it, the one-sentence request over HTTP (request sent -> first body
bytes; the baseline) and over Wyoming with the `wyoming` package's AsyncTcpClient (synthesize sent
-> first audio-chunk). The two alternate, so a change in the machine's load hits both alike.
Prints each sample, the medians and their ratio (Wyoming / HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time

from bench_serve_fairness import SHORT, first_audio, wait_ready
from wyoming.audio import AudioChunk, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize, SynthesizeVoice


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wyoming_first_audio(port: int, voice: str, text: str = SHORT) -> float:
    """Seconds from sending ``synthesize`` to the first ``audio-chunk``; reads the rest too."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        began = time.perf_counter()
        await client.write_event(Synthesize(text, voice=SynthesizeVoice(name=voice)).event())
        took = None
        while True:
            event = await client.read_event()
            if event is None:
                raise SystemExit("the Wyoming server closed the connection")
            if took is None and AudioChunk.is_type(event.type):
                took = time.perf_counter() - began
            if AudioStop.is_type(event.type):
                break
            if event.type == "error":
                raise SystemExit(f"the Wyoming server answered {event.data}")
    assert took is not None
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", default="en-rms")
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()

    http_port, wyoming_port = free_port(), free_port()
    url = f"http://127.0.0.1:{http_port}"
    server = subprocess.Popen([sys.executable, "-m", "ttsint", "serve", "--addon", args.addon, "--port",
                               str(http_port), "--wyoming", f"tcp://127.0.0.1:{wyoming_port}",
                               "--log-level", "warning"])
    try:
        voice = wait_ready(server, url)
        first_audio(url, voice)  # warm-up: first use of each code path
        asyncio.run(wyoming_first_audio(wyoming_port, voice))

        over_http, over_wyoming = [], []
        for _ in range(args.repeats):
            over_http.append(first_audio(url, voice))
            over_wyoming.append(asyncio.run(wyoming_first_audio(wyoming_port, voice)))
        print(f"addon {args.addon}: one sentence ({len(SHORT)} chars), {args.repeats} requests each, "
              "alternating")
        print("http    (s): " + " ".join(f"{t:.3f}" for t in over_http))
        print("wyoming (s): " + " ".join(f"{t:.3f}" for t in over_wyoming))
        ratio = statistics.median(over_wyoming) / statistics.median(over_http)
        print(f"median time to first audio: HTTP {statistics.median(over_http):.3f} s, "
              f"Wyoming {statistics.median(over_wyoming):.3f} s, ratio {ratio:.2f}")
    finally:
        server.terminate()
        server.wait(120)


if __name__ == "__main__":
    main()
