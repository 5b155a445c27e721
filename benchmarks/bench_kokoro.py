"""Kokoro in ttsint against kokoro-onnx 0.6.1 on the same int8 model, voice and text, in one run.

    python benchmarks/bench_kokoro.py [--voice af_heart] [--sentences 12] [--repeats 2] [--threads 2]
                                      [--words 300] [--precision int8|float32]
                                      [--only ids diff rtf first field options forms]

Figures (each a ratio ttsint / kokoro-onnx unless said; names for --only):

- ids:     token ids identical on the corpus (tests/piper/corpus.txt + benchmarks/everyday.txt): count
- diff:    whole sentence, int8 graph: max |ttsint audio - kokoro-onnx audio| over the sentences
- rtf:     real-time factor of each sentence synthesized from text (front end included), both sides
           warmed up, calls interleaved; also the network call alone
- first:   time to first audio of a WORDS-word text: ttsint Voice.stream / kokoro-onnx create_stream
- field:   why the decoder is not windowed: the means over axis 2 (AdaIN's instance norm over time) in
           the graph after the durations; each makes every output sample depend on the whole sentence
- options: ONNX Runtime session settings (optimization level, spinning, threads) on ttsint's network
           call, each / the setting ttsint uses (all optimizations, no spinning), interleaved
- forms:   the model's forms on the same tokens, interleaved, each / kokoro-onnx's call: int8 (the export
           as published), gemm (its convolutions as im2col + uint8 x int8 MatMulInteger: the same
           integers; whether its audio is identical; what ttsint runs for int8 on a VNNI CPU), float32
           (int8 weights dequantised: durations that agree, log-mel difference in dB)

--precision float32 runs ttsint's voice on the float32 form for ids/diff/rtf/first (diff then measures
how far the float32 form is from kokoro-onnx's int8 audio, not equality).

Both sides use THREADS intra-op threads. The machine is shared and noisy: calls are interleaved so
that both sides see the same load, and the ratios are what to read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import ttsint
from kokoro_onnx import Kokoro
from ttsint_kokoro.blocks import addon_voice
from ttsint_kokoro.compare import compare_forms
from ttsint_kokoro.model import (
    SessionSettings,
    assemble_parts,
    exact_signed_gemm,
    float_model,
    gemm_model,
    get_session,
    part_files,
    timed_model,
)
from ttsint_kokoro.voices import style_for

HERE = Path(__file__).parent
SAMPLE_RATE = 24_000


def corpus() -> list[str]:
    lines = []
    for path in (HERE.parent / "tests" / "piper" / "corpus.txt", HERE / "everyday.txt"):
        if path.is_file():
            lines += [x.strip() for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    return lines


def sentences(count: int) -> list[str]:
    lines = [x.strip() for x in (HERE / "everyday.txt").read_text(encoding="utf-8").splitlines() if x.strip()]
    return lines[:count]


def words_text(words: int) -> str:
    out, n = [], 0
    for line in sentences(1000) * 20:
        out.append(line)
        n += len(line.split())
        if n >= words:
            break
    return " ".join(out)


def session(path: Path, threads: int, **config: str) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    for key, value in config.items():
        if key == "level":
            options.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                                "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                                "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[value]
        else:
            options.add_session_config_entry(key, value)
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def time_statistics(path: Path) -> str:
    """How many ReduceMean nodes after the duration predictor average over the last (time) axis."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    constants = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].HasField("t"):
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    start = next(n for n in graph.node if n.op_type == "Round").output[0]
    seen, todo, after = set(), [start], []
    while todo:
        for node in users.get(todo.pop(), []):
            if id(node) not in seen:
                seen.add(id(node))
                after.append(node)
                todo.extend(node.output)
    over_time = 0
    means = [n for n in after if n.op_type == "ReduceMean"]
    for node in means:
        axes = next((list(a.ints) for a in node.attribute if a.name == "axes"), None)
        if axes is None and len(node.input) > 1 and node.input[1] in constants:
            axes = constants[node.input[1]].ravel().tolist()
        over_time += axes in ([2], [-1])
    return (f"{len(after)} nodes after the durations; {over_time} of their {len(means)} ReduceMean nodes "
            "average over axis 2, the time axis of AdaIN's instance norm ([1, C, T]): statistics of the "
            "whole sentence, so no finite receptive field and no exact windowing of the decoder")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voice", default="af_heart")
    parser.add_argument("--sentences", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--precision", choices=["int8", "float32"], default="int8")
    parser.add_argument("--only", nargs="*", default=["ids", "diff", "rtf", "first", "field", "options",
                                                      "forms"])
    args = parser.parse_args()

    voice = ttsint.Voice.load(f"kokoro-{args.voice}", {"stack.0.sequence_block.threads": args.threads,
                                                       "stack.0.sequence_block.precision": args.precision})
    network = ttsint.find(voice.block, ttsint.SequenceBlock).block
    frontend = voice.addon.frontend
    pack = addon_voice(voice.addon)
    with tempfile.TemporaryDirectory() as tmp:
        raw = assemble_parts(part_files(), Path(tmp) / "kokoro-v1.0.int8.onnx")
        np.savez(Path(tmp) / "voices.npz", **{args.voice: pack})
        ref = Kokoro.from_session(session(raw, args.threads), str(Path(tmp) / "voices.npz"))
        style = ref.get_voice_style(args.voice)
        print(f"kokoro-{args.voice}, {args.threads} threads, ttsint's {network.describe()}; "
              f"ratios are ttsint / kokoro-onnx 0.6.1; load average {os.getloadavg()[0]:.1f}")

        if "ids" in args.only:
            lines = corpus()
            same = sum(frontend.token_ids(x) == ref.tokenizer.tokenize(
                " ".join(ref.tokenizer.phonemize(x, "en-us").split()), limit=None) for x in lines)
            print(f"ids      identical on {same} of {len(lines)} corpus lines")

        texts = sentences(args.sentences)
        if "diff" in args.only:
            worst = 0.0
            for text in texts:
                utt = frontend(text)
                ours = network.forward(utt)["audio"].ravel()
                tokens = utt["symbols"][1:-1].tolist()
                theirs, _ = ref._infer(tokens, ref._style_for(style, len(tokens)), 1.0)
                worst = max(worst, float(np.abs(ours - theirs).max()))
            print(f"diff     max |ttsint - kokoro-onnx| over {len(texts)} whole sentences (int8): "
                  f"{worst:.3g}")

        if "rtf" in args.only:
            voice.synthesize(texts[0])
            ref.create(texts[0], args.voice)
            ours_t = theirs_t = net_t = ref_net_t = ours_audio = theirs_audio = 0.0
            for _ in range(args.repeats):
                for text in texts:
                    start = time.perf_counter()
                    audio = voice.synthesize(text)
                    ours_t += time.perf_counter() - start
                    ours_audio += audio.shape[0] / SAMPLE_RATE
                    start = time.perf_counter()
                    samples, _ = ref.create(text, args.voice)
                    theirs_t += time.perf_counter() - start
                    theirs_audio += len(samples) / SAMPLE_RATE
                    utt = frontend(text)
                    start = time.perf_counter()
                    network.forward(utt)
                    net_t += time.perf_counter() - start
                    tokens = utt["symbols"][1:-1].tolist()
                    start = time.perf_counter()
                    ref._infer(tokens, ref._style_for(style, len(tokens)), 1.0)
                    ref_net_t += time.perf_counter() - start
            ours_rtf, theirs_rtf = ours_t / ours_audio, theirs_t / theirs_audio
            print(f"rtf      text to audio: ttsint {ours_rtf:.3f}, kokoro-onnx {theirs_rtf:.3f} "
                  f"(its audio trimmed of silence): ratio {ours_rtf / theirs_rtf:.3f}; target <= 0.6")
            print(f"rtf      network call alone, same tokens: ratio {net_t / ref_net_t:.3f}")

        if "first" in args.only:
            text = words_text(args.words)
            ours_first, theirs_first = [], []
            for _ in range(args.repeats):
                start = time.perf_counter()
                with voice.stream(text) as stream:
                    next(stream)
                    ours_first.append(time.perf_counter() - start)

                async def first_chunk() -> float:
                    begin = time.perf_counter()
                    agen = ref.create_stream(text, args.voice)
                    await agen.__anext__()
                    elapsed = time.perf_counter() - begin
                    await agen.aclose()
                    return elapsed

                theirs_first.append(asyncio.run(first_chunk()))
            o, t = statistics.median(ours_first), statistics.median(theirs_first)
            print(f"first    time to first audio, {args.words}-word text: ttsint {o:.2f} s, kokoro-onnx "
                  f"{t:.2f} s: ratio {o / t:.3f}")

        if "field" in args.only:
            print("field    " + time_statistics(timed_model("parts")))

        if "options" in args.only:
            timed = timed_model("parts")
            quiet = {"session.intra_op.allow_spinning": "0"}
            settings = {"ttsint": quiet, "spinning": {"session.intra_op.allow_spinning": "1"},
                        "extended": {"level": "extended", **quiet}, "basic": {"level": "basic", **quiet}}
            sessions = {name: session(timed, args.threads, **cfg) for name, cfg in settings.items()}
            sessions["1 thread"] = session(timed, 1, **quiet)
            feeds = []
            for text in texts[: max(3, len(texts) // 2)]:
                ids = frontend(text)["symbols"]
                feeds.append({"tokens": ids[None], "style": style_for(pack, len(ids) - 2)[None],
                              "speed": np.array([1.0], np.float32)})
            totals = dict.fromkeys(sessions, 0.0)
            for s in sessions.values():
                s.run(None, feeds[0])
            for _ in range(args.repeats):
                for feed in feeds:
                    for name, s in sessions.items():
                        start = time.perf_counter()
                        s.run(None, feed)
                        totals[name] += time.perf_counter() - start
            base = totals["ttsint"]
            print("options  " + ", ".join(f"{name} {t / base:.3f}" for name, t in totals.items()))

        if "forms" in args.only:
            settings = SessionSettings(threads=args.threads)
            int8 = get_session(timed_model("parts"), settings)
            forms = {"int8": int8, "gemm": get_session(gemm_model(int8.path), settings),
                     "float32": get_session(float_model(int8.path), settings)}
            times = dict.fromkeys([*forms, "kokoro-onnx"], 0.0)
            audio: dict[str, list[np.ndarray]] = {name: [] for name in forms}
            for _ in range(args.repeats):
                for text in texts:
                    ids = frontend(text)["symbols"]
                    row = style_for(pack, len(ids) - 2)
                    for name in times:
                        start = time.perf_counter()
                        if name == "kokoro-onnx":
                            ref._infer(ids[1:-1].tolist(), row[None], 1.0)
                        else:
                            audio[name].append(forms[name].run(ids, row)[0])
                        times[name] += time.perf_counter() - start
            rows = compare_forms(int8, forms["float32"], frontend, pack, texts)
            agree = sum(r.same_durations for r in rows) / sum(r.tokens + 2 for r in rows)
            mel = statistics.mean(r.mel_db for r in rows if r.mel_db == r.mel_db)
            same = all(np.array_equal(a, b) for a, b in zip(audio["int8"], audio["gemm"], strict=True))
            base = times["kokoro-onnx"]
            print("forms    network time / kokoro-onnx's on the same tokens: "
                  + ", ".join(f"{name} {times[name] / base:.3f}" for name in forms)
                  + f"; float32 / int8 {times['float32'] / times['int8']:.3f}, gemm / int8 "
                  f"{times['gemm'] / times['int8']:.3f}")
            print(f"forms    gemm audio {'identical to' if same else 'DIFFERENT from'} int8's "
                  f"(exact uint8 x int8 GEMM on this CPU: {exact_signed_gemm()}); float32: durations agree "
                  f"on {agree:.1%} of tokens, log-mel difference {mel:.2f} dB over the tokens that agree")
    voice.close()


if __name__ == "__main__":
    main()
