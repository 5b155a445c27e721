"""The en-rms front end (libflite in process, no audio) against the path it replaced, measured in one run.

    python benchmarks/bench_frontend.py [--repeats 9] [--threads 1 [2 ...]] [--no-wer]

The old path is ``flite -voice rms -t TEXT -o none -ps`` (training/phonemize.py), which synthesized the
whole waveform to print the phones. Prints the issue-17 figures with their targets: front end on a
90-word paragraph, new ÷ old (≤ 0.05); en-rms time to first chunk for one short sentence, new ÷ old
(≤ 0.7); word error rate on the 40 everyday sentences with each front end (unchanged or better). Also
times ``t2p`` (same package, argv only) on the paragraph, the alternative that was not chosen.
The first chunk is timed at each ``--threads`` count of torch threads (1 by default: on the busy
shared machine two OpenMP threads wait for each other and inflate the stack's part many times).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import ttsint
from ttsint_bench.wer import Transcriber, edit_distance, everyday_sentences, words
from ttsint_voice_en.frontend import FlitePhones, clean_text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "plugins" / "ttsint-voice-en" / "training"))

from phonemize import text_to_phones as synthesized_phones  # noqa: E402

PARAGRAPH = (
    "On Saturday morning we walked down to the market by the river. The baker had fresh bread, "
    "and the old man at the corner sold apples, pears and a few late plums. My sister wanted flowers "
    "for the kitchen table, so we waited while he wrapped them in paper. Then it started to rain, "
    "lightly at first and then harder, and everyone ran for the bridge. We stood under it for half an "
    "hour, eating plums and watching the boats, until the sun came out again and we went home."
)
SHORT = "Please call me tomorrow morning at nine."


class SynthesizingFlitePhones(FlitePhones):
    """The front end as it was before issue 17: phones printed by a full ``flite -ps`` synthesis."""

    def analyse(self, text: str) -> tuple[list[str], list[int] | None]:
        return synthesized_phones(clean_text(text)), None


def t2p_phones(text: str) -> list[str]:
    """Phones from Flite's ``t2p`` program without its stress digits (it takes the text on argv only)."""
    out = subprocess.run(["t2p", clean_text(text)], check=True, capture_output=True, text=True).stdout
    return [re.sub(r"\d$", "", p) for p in out.split()]


def paired_medians(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, run in turns so that the shared machine's load falls on all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up: opens libflite, first calls of exported programs
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def first_chunk(voice: ttsint.Voice, frontend: FlitePhones, text: str) -> Callable[[], None]:
    """What ``Voice.stream`` does before its first chunk: the front end, then the stack's first chunk."""
    def run() -> None:
        stream = voice.stream_utterance(frontend(text))
        next(stream)
        stream.close()
    return run


def word_error_rate(voice: ttsint.Voice, frontend: FlitePhones, sentences: list[str]) -> float:
    asr = Transcriber()
    errors = n_words = 0
    for sentence in sentences:
        audio = ttsint.concat_chunks(voice.stream_utterance(frontend(sentence))).numpy()
        ref = words(sentence)
        errors += edit_distance(ref, asr(audio, voice.addon.sample_rate))
        n_words += len(ref)
    return errors / n_words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--no-wer", action="store_true", help="skip the word error rates (about 2 minutes)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="torch thread counts at which to time the first chunk (default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads[0])

    assert len(PARAGRAPH.split()) == 90
    voice = ttsint.Voice.load("en-rms")
    new = voice.addon.frontend
    old = SynthesizingFlitePhones(symbols=new.symbols)
    if not (new.phones(PARAGRAPH) == old.phones(PARAGRAPH) == t2p_phones(PARAGRAPH)):
        raise SystemExit("the front ends disagree on the paragraph's phones")

    t = paired_medians({"old": lambda: old.phones(PARAGRAPH), "t2p": lambda: t2p_phones(PARAGRAPH),
                        "new": lambda: new.phones(PARAGRAPH)}, args.repeats)
    t_old, t_t2p, t_new = t["old"], t["t2p"], t["new"]
    chunks = {"old": first_chunk(voice, old, SHORT), "new": first_chunk(voice, new, SHORT)}
    firsts = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        firsts[threads] = paired_medians(chunks, args.repeats)

    print(f"en-rms, medians of {args.repeats} runs taken in turns")
    print(f"front end, 90-word paragraph ({len(new.phones(PARAGRAPH))} phones)")
    print(f"  old: flite -t TEXT -ps (synthesizes)   {1000 * t_old:8.1f} ms   1.000")
    print(f"  t2p (subprocess, argv)                 {1000 * t_t2p:8.1f} ms   {t_t2p / t_old:.3f} x old")
    print(f"  new: libflite in process               {1000 * t_new:8.1f} ms   {t_new / t_old:.3f} x old"
          f"   (target <= 0.05)")
    print(f"time to first chunk, {SHORT!r} (front end + stack, vocoder included)")
    for threads, f in firsts.items():
        print(f"  {threads} torch thread(s): old {1000 * f['old']:8.1f} ms   new {1000 * f['new']:8.1f} ms"
              f"   {f['new'] / f['old']:.3f} x old   (target <= 0.7)")
    if not args.no_wer:
        torch.set_num_threads(args.threads[0])
        sentences = everyday_sentences()
        w_old = word_error_rate(voice, old, sentences)
        w_new = word_error_rate(voice, new, sentences)
        print(f"WER on everyday.txt ({len(sentences)} sentences, pocketsphinx en-us)")
        print(f"  old {w_old:.3f}   new {w_new:.3f}   (target: new <= old)")


if __name__ == "__main__":
    main()
