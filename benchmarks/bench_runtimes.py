"""Runtimes side by side: verify table; acoustic-stack speed and first chunk, onnxruntime ÷ torch.

    python benchmarks/bench_runtimes.py verify [--texts 50] [--longest 2000]  # runtimes x encoders x decoders
    python benchmarks/bench_runtimes.py speed [--repeats 7]      # 1 and 2 threads, and the first chunk

The speed figures run en-rms's acoustic stack (encoders, upsampler, streaming decoder; no vocoder),
alternating runtimes so both see the same load; ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import ttsint
from ttsint._verify import Configuration, sample_texts, verify_addon

ENCODERS = ["Encoders", "CustomizedEncoders", "NeuronEncoders"]
DECODERS = ["Decoder", "NeuronDecoder"]
TEXT = ("The quick brown fox jumps over the lazy dog, and then it runs away into the woods. "
        "Please call Stella and ask her to bring these things with her from the store.")


def verify_table(addon: str, count: int, longest: int) -> None:
    configs = []
    for runtime in ("torch", "onnxruntime"):
        for enc in ENCODERS:
            for dec in DECODERS:
                # The decoder's whole spec: a fixed window cannot take en-rms's chunk_growth.
                overrides = {"stack.0.sequence_block.type": enc,
                             "stack.0.streamable_block.stack.1": {"type": dec}}
                configs.append(Configuration(f"{runtime} {enc} {dec}", {"runtime": runtime}, overrides))
    # The fixed-shape blocks on their own default runtime (cpu-static: one compiled program per shape).
    configs.append(Configuration("cpu-static NeuronEncoders NeuronDecoder", {}, {
        "stack.0.sequence_block.type": "NeuronEncoders",
        "stack.0.streamable_block.stack.1": {"type": "NeuronDecoder"}}))
    texts = sample_texts(count, longest)
    with ttsint.Voice.load(addon) as voice:  # what the front end makes of them, summed over segments
        symbols = [sum(utt["symbols"].shape[-1] for _, utt in voice.segments(text)) for text in texts]
    begin = time.perf_counter()
    rows = verify_addon(addon, configs, texts)
    print(f"{addon}: {count} texts of {len(texts[0])}-{len(texts[-1])} characters "
          f"({min(symbols)}-{max(symbols)} symbols), "
          f"{rows[0].frames} mel frames per configuration, {time.perf_counter() - begin:.0f} s")
    print("| runtime | encoders | decoder | max abs diff of the mel from torch Encoders Decoder | ≤ 1e-4 |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        runtime, enc, dec = row.label.split()
        diff = "reference" if row.max_diff is None else f"{row.max_diff:.2e}"
        print(f"| {runtime} | {enc} | {dec} | {diff} | {'yes' if row.passed else 'NO'} |")


def acoustic_voice(runtime: str, threads: int) -> ttsint.Voice:
    addon = ttsint.load_addon("en-rms")
    spec = runtime if runtime == "torch" else {"type": runtime, "threads": threads}
    return ttsint.Voice(addon, [addon.stack[0]], runtime=spec)  # the acoustic model only, no vocoder


def timed(voice: ttsint.Voice, utt: ttsint.Utterance) -> tuple[float, float]:
    """Seconds to the first chunk and to the last, streaming one utterance."""
    begin = time.perf_counter()
    first = None
    for _ in voice.stream_utterance(utt):
        if first is None:
            first = time.perf_counter() - begin
    return first or 0.0, time.perf_counter() - begin


def speed(repeats: int) -> None:
    for threads in (1, 2):
        torch.set_num_threads(threads)  # torch runs the upsampler (and everything, on the torch runtime)
        voices = {name: acoustic_voice(name, threads) for name in ("torch", "onnxruntime")}
        utt = voices["torch"].encode(TEXT)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in voices}
        for voice in voices.values():
            timed(voice, utt)  # warm-up: first calls, and the ONNX conversion if not cached
        for _ in range(repeats):
            for name, voice in voices.items():
                samples[name].append(timed(voice, utt))
        medians: dict[str, tuple[float, float]] = {
            name: (statistics.median(s[0] for s in got), statistics.median(s[1] for s in got))
            for name, got in samples.items()}
        (t_first, t_total), (o_first, o_total) = medians["torch"], medians["onnxruntime"]
        print(f"{threads} thread(s), {utt['symbols'].shape[0]} symbols, medians of {repeats}:")
        print(f"  whole stream  torch {1000 * t_total:7.1f} ms  onnxruntime {1000 * o_total:7.1f} ms  "
              f"ratio {o_total / t_total:.3f}")
        print(f"  first chunk   torch {1000 * t_first:7.1f} ms  onnxruntime {1000 * o_first:7.1f} ms  "
              f"ratio {o_first / t_first:.3f}")
        per_network(voices)


def per_network(voices: dict[str, ttsint.Voice]) -> None:
    """Where the time goes: milliseconds per call of each network, for the profile in RESULTS.md."""
    for name, voice in voices.items():
        shown = []
        for key, report in voice.network_reports().items():
            shown.append(f"{key.rpartition(':')[2]} {report['ms'] / max(1, report['calls']):.2f} ms/call")
        print(f"    {name}: " + ", ".join(shown))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["verify", "speed"])
    parser.add_argument("--addon", default="en-rms")
    parser.add_argument("--texts", type=int, default=50)
    parser.add_argument("--longest", type=int, default=2000, help="verify: the longest text, in characters")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    run: dict[str, Callable[[], None]] = {
        "verify": lambda: verify_table(args.addon, args.texts, args.longest),
        "speed": lambda: speed(args.repeats)}
    run[args.what]()


if __name__ == "__main__":
    main()
