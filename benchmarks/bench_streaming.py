"""Latency and throughput of the streaming stack against a non-streaming baseline, measured in one run.

    python benchmarks/bench_streaming.py [--addon demo] [--symbols 400] [--repeats 7]

Baseline: the same networks run once over the whole utterance (encoders, full upsampling, one
decoder call). Ratios are what to compare across machines; absolute times vary with load.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import ttsint


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: first calls of exported programs are slower
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", default="demo")
    parser.add_argument("--symbols", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    voice = ttsint.Voice.load(args.addon)
    words = "the quick brown fox jumps over the lazy dog and keeps on running "
    text = (words * (args.symbols // len(words) + 1))[: args.symbols]
    utt = voice.encode(text)
    pipeline = voice.block if isinstance(voice.block, ttsint.StreamablePipeline) else voice.block.stack[0]
    upsampler, decoder = pipeline.streamable_block.stack[:2]

    def baseline() -> torch.Tensor:
        encoded = pipeline.sequence_block.forward(utt)
        frames = torch.cat([c.frames for c in upsampler.stream(encoded, None)])
        return decoder.decode_all(frames)

    def first_chunk() -> torch.Tensor:
        stream = pipeline.stream(utt, None)
        chunk = next(stream)
        stream.close()
        return chunk.frames

    def streamed() -> torch.Tensor:
        return ttsint.concat_chunks(pipeline.stream(utt, None))

    custom = ttsint.Voice.load(args.addon, {"stack.0.sequence_block.type": "CustomizedEncoders"})
    encoders = pipeline.sequence_block
    parallel = (custom.block if isinstance(custom.block, ttsint.StreamablePipeline)
                else custom.block.stack[0]).sequence_block

    t_base = _median_seconds(baseline, args.repeats)
    t_first = _median_seconds(first_chunk, args.repeats)
    t_stream = _median_seconds(streamed, args.repeats)
    t_enc = _median_seconds(lambda: encoders.forward(utt), args.repeats)
    t_par = _median_seconds(lambda: parallel.forward(utt), args.repeats)
    frames = baseline().shape[0]
    audio = frames * voice.addon.hop_length / voice.addon.sample_rate
    print(f"addon {args.addon}: {utt['symbols'].shape[0]} symbols -> {frames} frames "
          f"({audio:.1f} s of audio), "
          f"torch threads {torch.get_num_threads()}")
    print(f"baseline (whole utterance at once)   {1000 * t_base:8.1f} ms   1.00")
    print(f"streamed, time to first chunk        {1000 * t_first:8.1f} ms   "
          f"{t_first / t_base:.3f} x baseline")
    print(f"streamed, all chunks                 {1000 * t_stream:8.1f} ms   "
          f"{t_stream / t_base:.3f} x baseline")
    print(f"Encoders (sequential)                {1000 * t_enc:8.1f} ms   1.00")
    print(f"CustomizedEncoders (parallel)        {1000 * t_par:8.1f} ms   {t_par / t_enc:.3f} x Encoders")


if __name__ == "__main__":
    main()
