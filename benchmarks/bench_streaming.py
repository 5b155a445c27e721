"""Latency and throughput of the streaming stack against a non-streaming baseline, measured in one run.

    python benchmarks/bench_streaming.py [--addon demo] [--symbols 400] [--repeats 7]
    python benchmarks/bench_streaming.py --decoders [--repeats 40]   # en-rms: Decoder vs StatefulDecoder

Baseline: the same networks run once over the whole utterance (encoders, full upsampling, one
decoder call). Ratios are what to compare across machines; absolute times vary with load.
"""

from __future__ import annotations

import argparse
import os
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


WINDOWED = {"type": "Decoder", "chunk_frames": 4096, "first_chunk_frames": 16, "chunk_growth": 16}
STATEFUL = {"type": "StatefulDecoder", "chunk_frames": 4096, "first_chunk_frames": 16, "chunk_growth": 16}
# Two steps: 16 (+ the lag), then the rest up to 4,096 frames; fewer calls, but no gradual pacing.
STATEFUL_2 = {"type": "StatefulDecoder", "chunk_frames": 4096, "first_chunk_frames": 16, "chunk_growth": None}


def _stream_leaves(block: ttsint.Block) -> list[ttsint.StreamableBlock]:
    """The blocks that make the chunks, in stream order (an acoustic pipeline's: upsampler, decoder)."""
    return [f.node.block for f in ttsint.flows(block) if f.leaf]


def compare_decoders(addon: str, repeats: int) -> None:
    """Streaming ÷ whole-utterance CPU time (1 torch thread) of the acoustic stack with each decoder block.

    Whole: encoders, upsampling and one call of the addon's decoder network (and, for the same network's
    own ratio, one call of decoder_step). Streaming: the stack's chunks, all of them, or the first one.
    All eight run interleaved; medians of ``repeats``.
    """
    from ttsint_bench.figures import interleaved_seconds
    from ttsint_bench.suite import texts_by_length

    torch.set_num_threads(1)  # every operator runs in the calling thread, so thread_time is the whole cost
    text = texts_by_length(quick=True)["1 paragraph"]
    pipelines = {}
    for name, spec in (("windowed", WINDOWED), ("stateful", STATEFUL), ("stateful2", STATEFUL_2)):
        voice = ttsint.Voice.load(addon, {"stack.0.streamable_block.stack.1": spec})
        pipelines[name] = ttsint.find(voice.block, ttsint.StreamablePipeline).block
    windowed = pipelines["windowed"]
    upsampler, decoder = _stream_leaves(windowed)[:2]
    encoders = ttsint.find(windowed, ttsint.SequenceBlock).block
    utt = ttsint.Voice.load(addon).encode(text)

    def whole() -> torch.Tensor:
        encoded = encoders.forward(utt)
        return decoder.decode_all(ttsint.concat_chunks(upsampler.stream(encoded, None)))

    def first(pipeline: ttsint.StreamablePipeline) -> torch.Tensor:
        stream = pipeline.stream(utt, None)
        chunk = next(stream)
        stream.close()
        return chunk.frames

    reference = whole()
    for name, pipeline in pipelines.items():
        diff = (ttsint.concat_chunks(pipeline.stream(utt, None)) - reference).abs().max().item()
        print(f"{name}: {_stream_leaves(pipeline)[1].describe()}; max |stream - whole| = {diff:.2e}")
    stateful = _stream_leaves(pipelines["stateful"])[1]

    def stateful_whole() -> torch.Tensor:  # decoder_step in one call: that network's own whole cost
        encoded = encoders.forward(utt)
        return stateful.decode_all(ttsint.concat_chunks(upsampler.stream(encoded, None)))

    fns = {"whole": whole, "stateful whole": stateful_whole}
    for name, pipeline in pipelines.items():
        fns[f"{name} all"] = lambda p=pipeline: ttsint.concat_chunks(p.stream(utt, None))
        fns[f"{name} first"] = lambda p=pipeline: first(p)
    cpu = interleaved_seconds(fns, repeats, clock=time.thread_time)
    load = os.getloadavg()
    print(f"addon {addon}: {len(text.split())} words -> {reference.shape[0]} frames; CPU time, "
          "1 torch thread, "
          f"medians of {repeats} interleaved; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"whole utterance at once             {1000 * cpu['whole']:8.1f} ms   1.00")
    for name in pipelines:
        all_s, first_s = cpu[f"{name} all"], cpu[f"{name} first"]
        for label, s in (("all chunks ", all_s), ("first chunk", first_s)):
            print(f"{name:9s} streamed, {label}    {1000 * s:8.1f} ms   {s / cpu['whole']:.3f} x whole")
    print(f"stateful whole (decoder_step in one call) {1000 * cpu['stateful whole']:8.1f} ms; stateful "
          f"streamed ÷ it: {cpu['stateful all'] / cpu['stateful whole']:.3f}")
    print(f"stateful ÷ windowed, first chunk: {cpu['stateful first'] / cpu['windowed first']:.3f}; "
          "all chunks: "
          f"{cpu['stateful all'] / cpu['windowed all']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", default="demo")
    parser.add_argument("--symbols", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--decoders", action="store_true",
                        help="Decoder against StatefulDecoder on the bench paragraph (en-rms by default)")
    args = parser.parse_args()
    if args.decoders:
        compare_decoders("en-rms" if args.addon == "demo" else args.addon, args.repeats)
        return

    voice = ttsint.Voice.load(args.addon)
    words = "the quick brown fox jumps over the lazy dog and keeps on running "
    text = (words * (args.symbols // len(words) + 1))[: args.symbols]
    utt = voice.encode(text)
    pipeline = ttsint.find(voice.block, ttsint.StreamablePipeline).block
    upsampler, decoder = _stream_leaves(pipeline)[:2]
    encoders = ttsint.find(pipeline, ttsint.SequenceBlock).block

    def baseline() -> torch.Tensor:
        encoded = encoders.forward(utt)
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
    parallel = ttsint.find(custom.block, ttsint.SequenceBlock).block

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
