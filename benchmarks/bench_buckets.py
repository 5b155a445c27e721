"""Padding waste of the fixed-shape blocks on sentence-sized inputs, per bucket set (issue 23, item 5).

    python benchmarks/bench_buckets.py [--addon demo en-rms] [--sentences 26] [--chars 1900] [--piper]

A text of about CHARS characters in SENTENCES sentences (everyday sentences, some joined so the average
sentence is as long as the issue's) is cut into segments as synth cuts it (``Voice.segments``); each
segment's utterance goes through NeuronEncoders with each bucket set, and the block's own report gives
padding waste = padded / computed positions. The networks run on the torch runtime: the padding is the
block's, whatever runtime compiles the shapes, so no compile is needed to count it. Beside the waste, the
shapes a service would compile: networks x buckets used. With ``--piper``, the same for the joe voice's
decoder on runtime onnx-static (its windows, its default buckets), read from the network's report.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import ttsint

HERE = Path(__file__).parent

BUCKET_SETS = {
    "2x (32..256)": [32, 64, 128, 256],
    "1.5x (16..256)": [16, 24, 32, 48, 64, 96, 128, 192, 256],
    "1.5x (32..256)": [32, 48, 64, 96, 128, 192, 256],
}


def sentence_text(sentences: int, chars: int) -> str:
    """``sentences`` sentences of about ``chars`` characters in all: everyday lines, joined in pairs
    (", and ...") from the start until the average length is reached."""
    lines = [line.strip() for line in (HERE / "everyday.txt").read_text().splitlines() if line.strip()]
    out: list[str] = []
    i = 0
    while len(out) < sentences:
        line = lines[i % len(lines)]
        i += 1
        short = len(" ".join(out)) + len(line) < chars * (len(out) + 1) / sentences
        if short and line.endswith("."):
            nxt = lines[i % len(lines)]
            i += 1
            line = f"{line[:-1]}, and {nxt[0].lower()}{nxt[1:]}"
        out.append(line)
    return " ".join(out)


def encoder_waste(addon: str, text: str, buckets: list[int]) -> tuple[dict, int, int]:
    """(NeuronEncoders' report, networks x buckets used, segments) for ``text`` on ``addon``."""
    voice = ttsint.Voice.load(addon, {"stack.0.sequence_block.type": "NeuronEncoders",
                                      "stack.0.sequence_block.runtime": "torch",
                                      "stack.0.sequence_block.buckets": buckets})
    block = next(n.block for n in ttsint.walk(voice.block) if n.block.type_name == "NeuronEncoders")
    used: set[int] = set()
    segments = 0
    for _, utt in voice.segments(text):
        segments += 1
        utt = ttsint.utterance_to(utt, None, block.arrays)  # as the pipeline hands it over
        block(utt)
        n = int(utt["symbols"].shape[0])
        words = block.word_starts(utt["symbols"])
        for span in ttsint.split_spans(n, block.buckets[-1], block.context, words):
            used.add(ttsint.next_bucket(span.length, block.buckets))
    return block.report(), len(used) * len(block.networks), segments


def piper_waste(text: str) -> dict:
    """The joe decoder's report on onnx-static after streaming ``text``."""
    voice = ttsint.Voice.load("en_US-joe-medium", {"stack.0.sequence_block.seed": 1,
                                                   "stack.0.streamable_block.stack.1.runtime": "onnx-static"})
    with voice.stream(text) as speech:
        for _ in speech:
            pass
    return next(r for k, r in voice.network_reports().items() if k.endswith(":decoder"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", nargs="+", default=["demo", "en-rms"])
    parser.add_argument("--sentences", type=int, default=26)
    parser.add_argument("--chars", type=int, default=1900)
    parser.add_argument("--piper", action="store_true")
    args = parser.parse_args()
    text = sentence_text(args.sentences, args.chars)
    print(f"text: {len(text)} characters, {args.sentences} sentences")
    print(f"{'addon':8} {'buckets':16} {'segments':>8} {'computed':>8} {'padded':>7} {'waste':>6} "
          f"{'shapes':>6}")
    for addon in args.addon:
        for name, buckets in BUCKET_SETS.items():
            report, shapes, segments = encoder_waste(addon, text, buckets)
            print(f"{addon:8} {name:16} {segments:8d} {report['computed']:8d} {report['padded']:7d} "
                  f"{report['padding_waste']:6.3f} {shapes:6d}")
    if args.piper:
        r = piper_waste(text)
        print(f"en_US-joe-medium decoder on onnx-static: computed {r['computed']}, padded {r['padded']}, "
              f"waste {r['padding_waste']:.3f}, shapes compiled {r['compiles']} in {r['compile_ms']:.0f} ms")


if __name__ == "__main__":
    main()
