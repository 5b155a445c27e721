"""Decoder window schedules (fixed, growing) against one whole-utterance decoder call, measured in one run.

    python benchmarks/bench_schedule.py [--addon en-rms] [--symbols 400] [--repeats 3]

Each schedule keeps the first chunk at 16 frames; streamed output is checked to equal the whole
utterance's before timing. Ratios are what to compare; absolute times vary with load.
"""

from __future__ import annotations

import argparse

import torch
import ttsint
from ttsint_bench.figures import interleaved_seconds

SCHEDULES = {  # (chunk_frames cap, first_chunk_frames, growth)
    "fixed 256": (256, 16, None),
    "growth 2, cap 1024": (1024, 16, 2.0),
    "growth 4, cap 4096": (4096, 16, 4.0),
    "growth 16, cap 4096": (4096, 16, 16.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", default="en-rms")
    parser.add_argument("--symbols", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    voice = ttsint.Voice.load(args.addon)
    pipeline = ttsint.find(voice.block, ttsint.StreamablePipeline).block
    upsampler, decoder = [f.node.block for f in ttsint.flows(pipeline) if f.leaf][:2]
    words = "the quick brown fox jumps over the lazy dog and keeps on running "
    text = (words * (args.symbols // len(words) + 1))[: args.symbols]
    utt = ttsint.find(pipeline, ttsint.SequenceBlock).block.forward(voice.encode(text))
    frames = torch.cat([c.frames for c in upsampler.stream(utt, None)])
    net, ctx = decoder.network, decoder.context_frames

    def whole() -> torch.Tensor:
        return net.run({decoder.input_name: frames})[net.outputs[0]]

    def streamed(cap: int, first: int, growth: float | None) -> torch.Tensor:
        windows = ttsint.context_windows(upsampler.stream(utt, None), cap, ctx, first, growth)
        return torch.cat([w.trim(net.run({decoder.input_name: w.frames})[net.outputs[0]]) for w in windows])

    reference = whole()
    for name, schedule in SCHEDULES.items():
        assert torch.allclose(streamed(*schedule), reference, atol=1e-4), name
    fns = {"whole": whole, **{name: (lambda s=s: streamed(*s)) for name, s in SCHEDULES.items()}}
    times = interleaved_seconds(fns, args.repeats)
    total = frames.shape[0]
    print(f"{total} frames, decoder context {ctx}, torch threads {torch.get_num_threads()}")
    print(f"{'whole utterance':<22} {1000 * times['whole']:9.1f} ms   1.000")
    for name, (cap, first, growth) in SCHEDULES.items():
        n = sum(1 for _ in ttsint.context_windows(iter([ttsint.Chunk(frames, 0)]), cap, ctx, first, growth))
        computed = (total + 2 * ctx * (n - 1)) / total
        print(f"{name:<22} {1000 * times[name]:9.1f} ms   {times[name] / times['whole']:.3f} x whole   "
              f"{n} windows, {computed:.2f} x frames computed")


if __name__ == "__main__":
    main()
