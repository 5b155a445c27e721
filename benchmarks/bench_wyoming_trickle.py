"""Wyoming's streaming text input, per voice: first audio after the first sentence's end, text trickled.

    python benchmarks/bench_wyoming_trickle.py [--voices en-rms,en_US-joe-medium,kokoro-af_heart]
        [--repeats 5]

Home Assistant hands an LLM's answer to Wyoming as it is written (``synthesize-start``, then
``synthesize-chunk`` pieces, then ``synthesize-stop``). One real `ttsint serve --wyoming` serves the
voices; for each, a client trickles a two-sentence text in 3-character pieces 20 ms apart, as an LLM
writes, with the `wyoming` package's AsyncTcpClient, and times:

- **after the sentence's end**: from writing the piece that carries the second sentence's first
  letter (a sentence is complete only once the next one begins: the splitter needs that context)
  to the first ``audio-chunk``;
- **whole sentence** (the baseline, same run, alternating): the first sentence sent as one
  ``synthesize``, from sending it to the first ``audio-chunk``: the voice's own time to first audio.

Medians and min-max over ``--repeats``, and their ratio (1.0: the trickle path adds nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from bench_serve_fairness import wait_ready
from bench_wyoming import free_port, wyoming_first_audio
from wyoming import tts
from wyoming.audio import AudioChunk
from wyoming.client import AsyncTcpClient

FIRST = "Turn on the lights in the kitchen, please."
TEXT = FIRST + " Then play some quiet music in the living room."


async def trickled(port: int, voice: str) -> float:
    """Seconds from the piece that ends the first sentence to the first audio-chunk."""
    pieces = [TEXT[i:i + 3] for i in range(0, len(TEXT), 3)]
    ends = (len(FIRST) + 1) // 3  # the piece with the second sentence's first letter
    async with AsyncTcpClient("127.0.0.1", port) as client:
        ended_at: list[float] = []
        heard: list[float] = []

        async def write() -> None:
            await client.write_event(tts.SynthesizeStart(voice=tts.SynthesizeVoice(name=voice)).event())
            for i, piece in enumerate(pieces):
                await client.write_event(tts.SynthesizeChunk(piece).event())
                if i == ends:
                    ended_at.append(time.perf_counter())
                await asyncio.sleep(0.02)
            await client.write_event(tts.SynthesizeStop().event())

        writer = asyncio.create_task(write())
        while True:
            event = await client.read_event()
            if event is None or event.type == "error":
                raise SystemExit(f"the Wyoming server answered {event and event.data}")
            if not heard and AudioChunk.is_type(event.type):
                heard.append(time.perf_counter())
            if tts.SynthesizeStopped.is_type(event.type):
                break
        await writer
    assert TEXT[ends * 3:ends * 3 + 3].strip()[0] == "T"
    return heard[0] - ended_at[0]


def spread(values: list[float]) -> str:
    return f"{1000 * statistics.median(values):7.1f} ms ({1000 * min(values):.1f}-{1000 * max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default="en-rms,en_US-joe-medium,kokoro-af_heart")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    voices = args.voices.split(",")
    http_port, wyoming_port = free_port(), free_port()
    command = [sys.executable, "-m", "ttsint", "serve", "--port", str(http_port), "--wyoming",
               f"tcp://127.0.0.1:{wyoming_port}", "--log-level", "warning"]
    for voice in voices:
        command += ["--addon", voice]
    server = subprocess.Popen(command)
    try:
        wait_ready(server, f"http://127.0.0.1:{http_port}")
        print(f"first sentence {FIRST!r}; 3-character pieces every 20 ms; {args.repeats} rounds, alternating")
        print(f"{'voice':18} {'after the sentence end (trickled)':36} {'whole sentence (synthesize)':36} "
              "ratio")
        for voice in voices:
            asyncio.run(wyoming_first_audio(wyoming_port, voice, FIRST))  # warm-up
            after, base = [], []
            for _ in range(args.repeats):
                after.append(asyncio.run(trickled(wyoming_port, voice)))
                base.append(asyncio.run(wyoming_first_audio(wyoming_port, voice, FIRST)))
            print(f"{voice:18} {spread(after):36} {spread(base):36} "
                  f"{statistics.median(after) / statistics.median(base):.2f}")
    finally:
        server.terminate()
        server.wait(120)


if __name__ == "__main__":
    main()
