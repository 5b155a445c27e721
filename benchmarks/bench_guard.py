"""Cost of the output guard: the same utterance streamed through a voice's stack with and without it.

    python benchmarks/bench_guard.py [--addon demo] [--repeats 15]

Runs alternate (bare, guarded) so both see the same machine load; prints median times and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import ttsint

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs back home again before dark."


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--addon", default="demo")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    voice = ttsint.Voice.load(args.addon)
    utt = voice.encode(TEXT)

    def run(block: ttsint.StreamableBlock) -> tuple[float, int]:
        start = time.perf_counter()
        frames = sum(len(chunk.frames) for chunk in block.stream(utt, None))
        return time.perf_counter() - start, frames

    run(voice.block), run(voice.guarded)  # warm up
    bare, guarded = [], []
    for _ in range(args.repeats):
        t, frames = run(voice.block)
        bare.append(t)
        t, checked = run(voice.guarded)
        guarded.append(t)
        assert frames == checked
    b, g = statistics.median(bare), statistics.median(guarded)
    print(f"addon {args.addon}: {frames} frames per run, {args.repeats} runs each")
    print(f"stack alone            {1000 * b:8.2f} ms   1.000")
    print(f"stack + output guard   {1000 * g:8.2f} ms   {g / b:.3f} x")


if __name__ == "__main__":
    main()
