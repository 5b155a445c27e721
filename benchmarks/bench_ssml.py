"""SSML documents over several voices: time to first audio and the cost of a voice switch, as ratios.

    python benchmarks/bench_ssml.py [--words 2000] [--repeats 5] [--voices en-rms kokoro-af_heart ...]

Baselines are measured in the same run, interleaved with what they are compared to (the machine is
shared). Voices are loaded before any timing (load time is not part of either side).

- first:  time to first audio of a WORDS-word document whose paragraphs go round the voices (a switch
          every paragraph, marks and breaks in it) / the same words as plain text on the first voice
          (Voice.stream). Target <= 1.2.
- switch: seconds added per voice switch: a document of 24 one-sentence runs that alternate between
          two names of the same voice (two Voice objects of the first voice: same speed, so only the
          switch differs) minus the same runs on one name, divided by the 23 switches; also as a
          share of the one-name document's time. And the largest wait for audio at a run boundary
          when the next run is on another architecture, consumed as fast as it comes.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time

import numpy as np
import ttsint
from ttsint_bench.wer import everyday_sentences


def words_text(words: int) -> list[str]:
    """The everyday sentences, cycled, until ``words`` words."""
    lines = everyday_sentences()
    totals = itertools.accumulate(len(lines[i % len(lines)].split()) for i in itertools.count())
    n = next(i for i, total in enumerate(totals) if total >= words) + 1
    return [lines[i % len(lines)] for i in range(n)]


def document(sentences: list[str], voices: list[str], per_paragraph: int = 4) -> str:
    parts = []
    for p in range(0, len(sentences), per_paragraph):
        voice = voices[(p // per_paragraph) % len(voices)]
        body = " ".join(sentences[p:p + per_paragraph])
        parts.append(f'<voice name="{voice}"><p><mark name="p{p}"/>{body}</p></voice>')
        if p % (3 * per_paragraph) == 0:
            parts.append('<break time="300ms"/>')
    return "<speak>" + "".join(parts) + "</speak>"


def first_audio_plain(voice: ttsint.Voice, text: str) -> float:
    began = time.perf_counter()
    with voice.stream(text) as speech:
        next(speech)
        return time.perf_counter() - began


def first_audio_document(doc: ttsint.Document, ssml: str) -> float:
    began = time.perf_counter()
    with doc.stream(ssml) as stream:
        next(stream)
        return time.perf_counter() - began


def whole(doc: ttsint.Document, ssml: str) -> tuple[float, float]:
    """Seconds to stream the whole document, and the longest wait for audio at a run boundary."""
    began = last = time.perf_counter()
    longest = 0.0
    with doc.stream(ssml) as stream:
        runs = 0
        for _ in stream:
            now = time.perf_counter()
            if len(stream.runs) != runs:  # a run ended before this chunk: this wait spans the boundary
                longest = max(longest, now - last)
                runs = len(stream.runs)
            last = now
    return time.perf_counter() - began, longest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--voices", nargs="+", default=["en-rms", "en_US-joe-medium", "kokoro-af_heart"])
    args = parser.parse_args()

    have = set(ttsint.get_registry().addons)
    loaded: dict[str, ttsint.Voice] = {}
    for name in args.voices:
        if name not in have:
            print(f"# {name}: not installed, left out", file=sys.stderr)
            continue
        try:
            loaded[name] = ttsint.Voice.load(name)
        except ttsint.TTSIntError as exc:
            print(f"# {name}: does not load, left out: {str(exc).splitlines()[0]}", file=sys.stderr)
    names = list(loaded)
    if not names:
        print("no voice loads", file=sys.stderr)
        return 1
    first = loaded[names[0]]
    doc = ttsint.Document(loaded, default=names[0], allowed=names)
    lufs = {name: doc.state(name).loudness() for name in names}  # off the clock, as a server does once
    print("loudness (EBU R128 of the calibration sentence): " + ", ".join(
        f"{n} {v:.1f} LUFS (gain {lufs[names[0]] - v:+.1f} dB)" for n, v in lufs.items()))

    sentences = words_text(args.words)
    plain = " ".join(sentences)
    ssml = document(sentences, names)
    print(f"voices: {', '.join(names)}; {len(plain.split())} words, {len(ssml):,} characters of SSML, "
          f"{ssml.count('<voice')} voice runs")

    first_audio_plain(first, sentences[0])  # warm-up: first calls compile and allocate
    first_audio_document(doc, ssml)
    plain_t, doc_t = [], []
    for _ in range(args.repeats):
        plain_t.append(first_audio_plain(first, plain))
        doc_t.append(first_audio_document(doc, ssml))
    p, d = statistics.median(plain_t), statistics.median(doc_t)
    print(f"first: document {1000 * d:.1f} ms / plain text {1000 * p:.1f} ms = {d / p:.3f} (target <= 1.2)")

    twin = ttsint.Voice.load(names[0])
    pair = ttsint.Document({"a": first, "b": twin}, default="a", allowed=["a", "b"])
    for state in ("a", "b"):
        pair.state(state).loudness()
    runs = sentences[:24]
    one = "<speak>" + "".join(f'<voice name="a"><s>{s}</s></voice>' for s in runs) + "</speak>"
    alternating = "<speak>" + "".join(f'<voice name="{"ab"[i % 2]}"><s>{s}</s></voice>'
                                      for i, s in enumerate(runs)) + "</speak>"
    whole(pair, one)
    one_t, alt_t = [], []
    for _ in range(max(2, args.repeats // 2)):
        one_t.append(whole(pair, one)[0])
        alt_t.append(whole(pair, alternating)[0])
    o, a = statistics.median(one_t), statistics.median(alt_t)
    per_switch = (a - o) / (len(runs) - 1)
    print(f"switch: {1000 * per_switch:.1f} ms per switch between two voices of one architecture "
          f"({a:.2f} s alternating / {o:.2f} s on one name = {a / o:.3f})")
    if len(names) > 1:
        mixed = "<speak>" + "".join(f'<voice name="{names[i % len(names)]}"><s>{s}</s></voice>'
                                    for i, s in enumerate(runs[:12])) + "</speak>"
        single = "<speak>" + "".join(f'<voice name="{names[0]}"><s>{s}</s></voice>'
                                     for s in runs[:12]) + "</speak>"
        _, wait_mixed = whole(doc, mixed)
        _, wait_single = whole(doc, single)
        print(f"switch: longest wait for audio at a run boundary, architectures alternating "
              f"{1000 * wait_mixed:.1f} ms / all on {names[0]} {1000 * wait_single:.1f} ms")
    twin.close()
    for voice in loaded.values():
        voice.close()
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
