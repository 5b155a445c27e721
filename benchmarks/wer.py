"""Intelligibility: word error rate of a ttsint voice next to its source Flite voice, on held-out sentences.

    python benchmarks/wer.py [--addon en-rms] [--limit N] [--sentences FILE] [--set KEY=VALUE ...]

Both are transcribed offline by pocketsphinx's bundled US English model (pip install pocketsphinx);
the sentences are not in the voice's training text. Prints per-sentence errors and the totals.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import ttsint

HELDOUT = Path(__file__).resolve().parents[1] / "plugins/ttsint-voice-en/training/heldout.txt"


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, numbers spelled out: how both sides are compared."""
    text = ttsint.normalize_text(text).replace("-", " ")
    return re.sub(r"[^a-z' ]+", " ", text).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions, insertions, deletions)."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


class Transcriber:
    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self.decoder = Decoder(samprate=16000, loglevel="FATAL")

    def __call__(self, pcm16: bytes) -> str:
        self.decoder.start_utt()
        self.decoder.process_raw(pcm16, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


def _pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples.reshape(-1), -1, 1) * 32767).round().astype("<i2").tobytes()


def flite_pcm(text: str, voice: str = "rms") -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.wav"
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True,
                       capture_output=True)
        samples, rate = ttsint.read_wav(path)
    assert rate == 16000, rate
    return _pcm16(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", default="en-rms")
    parser.add_argument("--sentences", type=Path, default=HELDOUT)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override the addon's config, as with ttsint synth --set")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    sentences = [s.strip() for s in args.sentences.read_text().splitlines() if s.strip()][: args.limit]
    voice = ttsint.Voice.load(args.addon, dict(ttsint.parse_override(s) for s in args.sets))
    if voice.addon.sample_rate != 16000 or voice.output_kind != "waveform":
        raise SystemExit(f"{args.addon} must end in a vocoder at 16 kHz for pocketsphinx")
    asr = Transcriber()
    totals = {"voice": 0, "source": 0}
    n_words = 0
    synth_seconds = audio_seconds = 0.0
    for sentence in sentences:
        ref = words(sentence)
        start = time.perf_counter()
        audio = voice.synthesize(sentence).numpy()
        synth_seconds += time.perf_counter() - start
        audio_seconds += audio.shape[0] / 16000
        hyp_voice = words(asr(_pcm16(audio)))
        hyp_source = words(asr(flite_pcm(sentence)))
        e_voice, e_source = edit_distance(ref, hyp_voice), edit_distance(ref, hyp_source)
        totals["voice"] += e_voice
        totals["source"] += e_source
        n_words += len(ref)
        if args.verbose or e_voice > e_source:
            print(f"[{e_voice} vs {e_source}] {sentence}\n    voice:  {' '.join(hyp_voice)}\n"
                  f"    source: {' '.join(hyp_source)}")
    wer_voice, wer_source = totals["voice"] / n_words, totals["source"] / n_words
    print(f"\n{len(sentences)} held-out sentences, {n_words} words, transcribed by pocketsphinx (en-us)")
    print(f"WER {args.addon} (ttsint, Griffin-Lim): {wer_voice:.3f}")
    print(f"WER flite rms (source voice):        {wer_source:.3f}")
    print(f"ratio voice / source:                {wer_voice / max(wer_source, 1e-9):.2f}")
    print(f"synthesis real-time factor:          {synth_seconds / audio_seconds:.3f}")


if __name__ == "__main__":
    main()
