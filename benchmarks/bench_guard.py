"""Cost of the output guard: the same utterance streamed through a voice's stack with and without it.

    python benchmarks/bench_guard.py [--addon demo] [--repeats 15]

Runs alternate (bare and guarded, each first half the time) so both see the same machine load;
prints median times and the ratio.
On a loaded machine that ratio is mostly noise, so it also times the guard's checks alone, replayed
over the chunks of one run, as a fraction of that run's streaming time.
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
    bare, guarded, checks = [], [], []
    timing = ttsint.Timing()
    for _ in ttsint.timed(voice.block, utt, None, timing):  # hears the durations the stack decides
        pass
    for i in range(args.repeats):
        order = [(voice.block, bare), (voice.guarded, guarded)]
        counts = set()
        for block, times in order if i % 2 == 0 else order[::-1]:  # each goes first half the time
            t, frames = run(block)
            times.append(t)
            counts.add(frames)
        assert len(counts) == 1
        chunks = list(voice.block.stream(utt, None))
        start = time.perf_counter()
        for _ in voice.guarded._checked(iter(chunks), timing):
            pass
        checks.append(time.perf_counter() - start)
    b, g, c = statistics.median(bare), statistics.median(guarded), statistics.median(checks)
    print(f"addon {args.addon}: {frames} frames in {len(chunks)} chunks per run, {args.repeats} runs each")
    print(f"stack alone            {1000 * b:8.2f} ms   1.000   (fastest run {1000 * min(bare):.2f} ms)")
    fastest = f"fastest run {1000 * min(guarded):.2f} ms, {min(guarded) / min(bare):.3f} x"
    print(f"stack + output guard   {1000 * g:8.2f} ms   {g / b:.3f} x   ({fastest})")
    print(f"the guard's checks     {1000 * c:8.2f} ms   {c / b:.4f} x   (replayed over one run's chunks)")


if __name__ == "__main__":
    main()
