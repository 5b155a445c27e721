"""Texts of any length: the five figures of sentence-by-sentence streaming, each a ratio to a baseline.

    python benchmarks/bench_sentences.py [--words 2000] [--long-words 1400] [--cli-words 5000] [--repeats 5]
                                         [--threads 1] [--only NAME ...]

Every baseline is measured in the same run, interleaved with what it is compared to, because the
machine is shared. Figures (names for --only):

- first:  en-rms, time to first chunk of a WORDS-word text / of its first sentence alone
- demo:   demo addon, time to first chunk of 2,400 characters / of its first 60 characters
- rss:    peak RSS of `ttsint synth --text-file ... -o x.wav` (/usr/bin/time -v) for about ten
          minutes of audio (LONG-WORDS words) / for about ten seconds
- rtf:    en-rms, real-time factor of the WORDS-word text / of its first sentence alone
          (both over speech only: the pauses between sentences are not counted as audio); and the same
          in CPU time of the whole process (look-ahead thread included), which load barely changes
- gap:    in that same run, the median gap at a sentence boundary / the median gap between chunks
- mix:    what the rtf figure is made of: the first 40 sentences streamed as one text / each streamed
          alone (overhead of streaming them together), and the cost per second of speech of an average
          one of them alone / of the first sentence alone (how representative the baseline is)
- cli:    the issue's done-when run: `ttsint synth --addon en-rms --text-file ... -o x.wav --json` of
          CLI-WORDS words / of its first sentence alone (two runs before the long one and two after):
          first chunk, real-time factor over speech and peak RSS; the WAV must hold every frame reported

The CLI runs (rss, cli) get OMP_NUM_THREADS=THREADS, so that they use as many torch threads as the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import ttsint
from ttsint._synth import timed_stream

HERE = Path(__file__).parent
SOURCES = [HERE / "everyday.txt", HERE.parent / "plugins/ttsint-voice-en/training/heldout.txt"]


def english_text(words: int) -> str:
    """``words`` words of everyday and docstring sentences, cycled, starting with a short everyday one."""
    lines = [line.strip() for src in SOURCES if src.exists() for line in src.read_text().splitlines()]
    lines = [line for line in lines if line]
    out: list[str] = []
    count = 0
    while count < words:
        for line in lines:
            out.append(line)
            count += len(line.split())
            if count >= words:
                break
    return " ".join(out)


def first_chunk_seconds(voice: ttsint.Voice, text: str) -> float:
    begin = time.perf_counter()
    stream = voice.stream(text)
    next(stream)
    elapsed = time.perf_counter() - begin
    stream.close()
    return elapsed


def interleaved_medians(fns: list, repeats: int) -> list[float]:
    """Median seconds of each function, run in turns (A B A B ...) after one warm-up each."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            times[i].append(fn())
    return [statistics.median(t) for t in times]


def cli_synth(text: str, workdir: Path, threads: int) -> dict:
    """`ttsint synth --text-file` of ``text`` to a WAV under ``/usr/bin/time -v``: its --json report, with
    the peak resident set size (``peak_kb``) added; fails unless the WAV holds every frame reported."""
    source, out = workdir / "text.txt", workdir / "out.wav"
    source.write_text(text, encoding="utf-8")
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "ttsint", "synth", "--addon", "en-rms",
           "--text-file", str(source), "-o", str(out), "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    report = json.loads(proc.stdout)
    report["peak_kb"] = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    samples, _ = ttsint.read_wav(out)
    if samples.shape[0] != report["frames"]:
        raise SystemExit(f"the WAV has {samples.shape[0]} frames, the report {report['frames']}")
    return report


def stream_seconds(voice: ttsint.Voice, text: str) -> tuple[float, float]:
    """Seconds to stream all of ``text`` in process, and the seconds of audio it made."""
    begin = time.perf_counter()
    frames = sum(len(chunk) for chunk in voice.stream(text))
    return time.perf_counter() - begin, frames * voice.frame_seconds


def speech_rtf(report: dict) -> float:
    return report["total_ms"] / 1000 / report["speech_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--long-words", type=int, default=1400, help="words for about ten minutes of audio")
    parser.add_argument("--cli-words", type=int, default=5000, help="words of the done-when CLI run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=["first", "demo", "rss", "rtf", "gap", "mix", "cli"])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1 by default: on a busy 2-core machine, two OpenMP threads "
                             "wait for each other and a short sentence can take 10x longer)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows: list[tuple[str, str, float, str]] = []
    text = english_text(args.words)
    first_sentence = next(ttsint.split_sentences(text))

    if "first" in args.only:
        voice = ttsint.Voice.load("en-rms")
        long_t, short_t = interleaved_medians(
            [lambda: first_chunk_seconds(voice, text), lambda: first_chunk_seconds(voice, first_sentence)],
            args.repeats)
        rows.append((f"en-rms: first chunk, {args.words} words / first sentence alone",
                     f"{1000 * long_t:.0f} ms / {1000 * short_t:.0f} ms", long_t / short_t, "<= 1.2"))

    if "demo" in args.only:
        demo = ttsint.Voice.load("demo")
        letters = re.sub(r"[^a-z .,?']", "", text.lower())
        long_text = letters[:2400]
        short_text = long_text[:60]
        long_t, short_t = interleaved_medians(
            [lambda: first_chunk_seconds(demo, long_text), lambda: first_chunk_seconds(demo, short_text)],
            args.repeats)
        rows.append(("demo: first chunk, 2,400 chars / 60 chars",
                     f"{1000 * long_t:.0f} ms / {1000 * short_t:.0f} ms", long_t / short_t, "<= 1.5"))

    if "rss" in args.only:
        with tempfile.TemporaryDirectory() as tmp:
            short = cli_synth(english_text(25), Path(tmp), args.threads)
            long = cli_synth(english_text(args.long_words), Path(tmp), args.threads)
        rows.append((f"peak RSS, CLI to WAV: {long['audio_seconds'] / 60:.1f} min / "
                     f"{short['audio_seconds']:.0f} s of audio",
                     f"{long['peak_kb'] / 1024:.0f} MB / {short['peak_kb'] / 1024:.0f} MB",
                     long["peak_kb"] / short["peak_kb"], "<= 1.2"))

    if "mix" in args.only:
        voice = ttsint.Voice.load("en-rms")
        sentences = list(ttsint.split_sentences(text))[:40]
        joined, each, first = [], [], []
        stream_seconds(voice, sentences[0])  # warm-up
        for _ in range(3):
            joined.append(stream_seconds(voice, " ".join(sentences))[0])
            alone = [stream_seconds(voice, s) for s in sentences]
            each.append(sum(t for t, _ in alone) / sum(a for _, a in alone))
            firsts = [stream_seconds(voice, sentences[0]) for _ in range(5)]
            first.append(sum(t for t, _ in firsts) / sum(a for _, a in firsts))
        speech = sum(stream_seconds(voice, s)[1] for s in sentences)
        together = statistics.median(t / (e * speech) for t, e in zip(joined, each, strict=True))
        rows.append(("en-rms: 40 sentences streamed as one text / each alone (time)",
                     f"{statistics.median(joined):.2f} s / {statistics.median(each) * speech:.2f} s",
                     together, "(~1: no cost in streaming them together)"))
        rows.append(("en-rms: cost per second of speech, those sentences alone / the first sentence alone",
                     f"{statistics.median(each):.3f} / {statistics.median(first):.3f}",
                     statistics.median(each) / statistics.median(first), "(the rtf baseline's bias)"))

    if "cli" in args.only:
        cli_text = english_text(args.cli_words)
        sentence = next(ttsint.split_sentences(cli_text))
        with tempfile.TemporaryDirectory() as tmp:
            singles = [cli_synth(sentence, Path(tmp), args.threads) for _ in range(2)]
            long = cli_synth(cli_text, Path(tmp), args.threads)
            singles += [cli_synth(sentence, Path(tmp), args.threads) for _ in range(2)]
        label = f"CLI --text-file, {args.cli_words} words ({long['audio_seconds'] / 60:.1f} min, " \
                f"{long['segments']} segments) / first sentence alone"
        first = statistics.median(r["first_chunk_ms"] for r in singles)
        rtf = statistics.median(speech_rtf(r) for r in singles)
        peak = statistics.median(r["peak_kb"] for r in singles)
        rows.append((f"{label}: first chunk", f"{long['first_chunk_ms']:.0f} ms / {first:.0f} ms",
                     long["first_chunk_ms"] / first, "<= 1.2"))
        rows.append((f"{label}: real-time factor (speech only)", f"{speech_rtf(long):.3f} / {rtf:.3f}",
                     speech_rtf(long) / rtf, "<= 1.1"))
        rows.append((f"{label}: peak RSS", f"{long['peak_kb'] / 1024:.0f} MB / {peak / 1024:.0f} MB",
                     long["peak_kb"] / peak, "(<= 1.2 for 10 min / 10 s)"))

    if "rtf" in args.only or "gap" in args.only:
        voice = ttsint.Voice.load("en-rms")

        def cpu_timed(text: str) -> tuple[dict, float]:
            """timed_stream's report, and the CPU seconds of every thread of this process per second of
            speech (the look-ahead thread included), which other jobs on the machine barely change."""
            begin = time.process_time()
            report = timed_stream(voice, text)[1]
            return report, (time.process_time() - begin) / report["speech_seconds"]

        cpu_timed(first_sentence)  # warm-up
        singles = [cpu_timed(first_sentence) for _ in range(3)]
        long_report, long_cpu = cpu_timed(text)
        singles += [cpu_timed(first_sentence) for _ in range(3)]  # load may change meanwhile
        single_rtf = statistics.median(speech_rtf(r) for r, _ in singles)
        single_cpu = statistics.median(c for _, c in singles)
        long_rtf = speech_rtf(long_report)
        if "rtf" in args.only:
            rows.append((f"en-rms: real-time factor, {args.words} words / first sentence alone",
                         f"{long_rtf:.3f} / {single_rtf:.3f}", long_rtf / single_rtf, "<= 1.1"))
            rows.append((f"en-rms: CPU s per s of speech, {args.words} words / first sentence alone",
                         f"{long_cpu:.3f} / {single_cpu:.3f}", long_cpu / single_cpu, "<= 1.1"))
        if "gap" in args.only:
            boundary = statistics.median(long_report["boundary_gaps_ms"])
            chunk = long_report["median_chunk_gap_ms"]
            gaps = sorted(long_report["boundary_gaps_ms"])
            worst = gaps[int(0.95 * (len(gaps) - 1))]
            rows.append((f"en-rms: gap at a sentence boundary / between chunks ({long_report['segments']} "
                         f"segments; p95 boundary {worst:.0f} ms)",
                         f"{boundary:.0f} ms / {chunk:.0f} ms", boundary / chunk, "<= 2"))

    print("| figure | measured | ratio | target |")
    print("| --- | --- | --- | --- |")
    for name, measured, ratio, target in rows:
        print(f"| {name} | {measured} | {ratio:.2f} | {target} |")


if __name__ == "__main__":
    main()
