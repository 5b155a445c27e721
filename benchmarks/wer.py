"""Intelligibility: word error rate of a ttsint voice next to its source Flite voice, on held-out sentences.

    python benchmarks/wer.py [--addon en-rms] [--limit N] [--sentences FILE] [--set KEY=VALUE ...]

Both are transcribed offline by pocketsphinx's bundled US English model (pip install pocketsphinx);
the sentences are not in the voice's training text. Prints per-sentence errors and the totals.
`ttsint bench` reports the same figure beside eSpeak NG's (ttsint_bench.wer holds the shared parts).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import ttsint
from ttsint_bench.peers import PEERS
from ttsint_bench.wer import Transcriber, edit_distance, words

HELDOUT = Path(__file__).resolve().parents[1] / "plugins/ttsint-voice-en/training/heldout.txt"


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
    if voice.output_kind != "waveform":
        raise SystemExit(f"{args.addon} must end in a vocoder for pocketsphinx")
    asr = Transcriber()
    totals = {"voice": 0, "source": 0}
    n_words = 0
    synth_seconds = audio_seconds = 0.0
    rate = voice.addon.sample_rate
    for sentence in sentences:
        ref = words(sentence)
        start = time.perf_counter()
        audio = ttsint.to_numpy(voice.synthesize(sentence))
        synth_seconds += time.perf_counter() - start
        audio_seconds += audio.shape[0] / rate
        hyp_voice = asr(audio, rate)
        source = PEERS["flite"].speak(sentence)
        hyp_source = asr(source.samples, source.rate)
        e_voice, e_source = edit_distance(ref, hyp_voice), edit_distance(ref, hyp_source)
        totals["voice"] += e_voice
        totals["source"] += e_source
        n_words += len(ref)
        if args.verbose or e_voice > e_source:
            print(f"[{e_voice} vs {e_source}] {sentence}\n    voice:  {' '.join(hyp_voice)}\n"
                  f"    source: {' '.join(hyp_source)}")
    wer_voice, wer_source = totals["voice"] / n_words, totals["source"] / n_words
    print(f"\n{len(sentences)} held-out sentences, {n_words} words, transcribed by pocketsphinx (en-us)")
    print(f"WER {args.addon} (ttsint):       {wer_voice:.3f}")
    print(f"WER flite rms (source voice): {wer_source:.3f}")
    print(f"ratio voice / source:         {wer_voice / max(wer_source, 1e-9):.2f}")
    print(f"synthesis real-time factor:   {synth_seconds / audio_seconds:.3f}")


if __name__ == "__main__":
    main()
