"""Vocoders side by side: copy-synthesis quality (PESQ, STOI) on held-out Flite recordings, and speed.

    python benchmarks/bench_vocoder.py [--sentences 20] [--variant NAME=KEY=VALUE,KEY=VALUE ...]

Each held-out sentence is spoken by `flite -voice rms` (the voice en-rms learned from), turned into
the addon's log-mel, and vocoded back by every variant; PESQ (wideband) and STOI compare the result
with the recording. Times are the streaming vocoders' own, summed over the sentences, as a ratio
against the first variant (Griffin-Lim 64 as shipped before) measured in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import ttsint
from ttsint_dsp import MelSpec, log_mel

HERE = Path(__file__).resolve().parent
HELDOUT = HERE.parent / "plugins/ttsint-voice-en/training/heldout.txt"
EVERYDAY = HERE / "everyday.txt"
VARIANTS = {
    "gl64": {"type": "GriffinLim", "n_iter": 64},
    "pghi": {"type": "PGHI"},
    "gl0-pghi-start": {"type": "GriffinLim", "n_iter": 0, "phase_init": "pghi"},
    "gl4-pghi-start": {"type": "GriffinLim", "n_iter": 4, "phase_init": "pghi"},
    "gl8-pghi-start": {"type": "GriffinLim", "n_iter": 8, "phase_init": "pghi"},
    "gl8": {"type": "GriffinLim", "n_iter": 8},
}


def flite_wave(text: str) -> torch.Tensor:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.wav"
        subprocess.run(
            ["flite", "-voice", "rms", "-t", text, "-o", str(path)], check=True, capture_output=True
        )
        samples, rate = ttsint.read_wav(path)
    assert rate == 16000, rate
    return torch.as_tensor(np.asarray(samples, dtype=np.float32).reshape(-1))


def parse_variant(text: str) -> tuple[str, dict]:
    name, _, rest = text.partition("=")
    config: dict = {"type": "GriffinLim"}
    for item in filter(None, rest.split(",")):
        key, value = ttsint.parse_override(item)
        config[key] = value
    return name, config


def end_to_end(addon: str, variants: dict[str, dict], n: int) -> None:
    """Real-time factor of the whole stack (text to waveform) with each vocoder, interleaved per sentence."""
    texts = [s.strip() for s in EVERYDAY.read_text().splitlines() if s.strip()][:n]
    voices = {name: ttsint.Voice.load(addon, {"stack.1": config}) for name, config in variants.items()}
    seconds = dict.fromkeys(voices, 0.0)
    audio = 0.0
    for voice in voices.values():
        voice.synthesize(texts[0])  # warm-up
    for text in texts:
        for name, voice in voices.items():
            start = time.perf_counter()
            out = voice.synthesize(text)
            seconds[name] += time.perf_counter() - start
        audio += out.shape[0] / voice.addon.sample_rate
    base = next(iter(voices))
    print(f"end to end, {len(texts)} everyday sentences, {audio:.1f} s of audio")
    for name, s in seconds.items():
        print(f"  {name:<26} RTF {s / audio:.4f}   {s / seconds[base]:.3f} x {base}")


def main() -> None:
    from pesq import pesq
    from pystoi import stoi

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", default="en-rms")
    parser.add_argument("--sentences", type=int, default=20)
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE,...")
    parser.add_argument(
        "--only", metavar="NAME,NAME", help="run these variants only (the first is the baseline)"
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument(
        "--end-to-end",
        type=int,
        default=0,
        metavar="N",
        help="also time the addon's whole stack with each vocoder on N everyday sentences",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    addon = ttsint.load_addon(args.addon)
    spec = MelSpec.from_config(addon.config)
    variants = dict(VARIANTS)
    variants.update(parse_variant(v) for v in args.variant)
    if args.only:
        variants = {name: variants[name] for name in args.only.split(",")}
    if args.end_to_end:
        end_to_end(args.addon, variants, args.end_to_end)
    vocoders = {name: ttsint.build_stack(config, addon) for name, config in variants.items()}
    texts = [s.strip() for s in HELDOUT.read_text().splitlines() if s.strip()][: args.sentences]
    if not texts:
        return
    scores = {name: {"pesq": [], "stoi": [], "seconds": 0.0} for name in variants}
    audio_seconds = 0.0
    for text in texts:
        ref = flite_wave(text)
        mel = log_mel(ref, spec)
        audio_seconds += ref.shape[0] / spec.sample_rate
        ref_np = ref.numpy().astype(np.float64)
        for name, vocoder in vocoders.items():
            start = time.perf_counter()
            out = vocoder.vocode(mel)[:, 0]
            scores[name]["seconds"] += time.perf_counter() - start
            deg = out[: ref.shape[0]].numpy().astype(np.float64)
            scores[name]["pesq"].append(pesq(spec.sample_rate, ref_np, deg, "wb"))
            scores[name]["stoi"].append(stoi(ref_np, deg, spec.sample_rate, extended=False))
    base = next(iter(variants))
    print(
        f"{len(texts)} held-out sentences, {audio_seconds:.1f} s of Flite rms speech, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"{'variant':<28} {'PESQ-wb':>8} {'STOI':>7} {'vocoder s':>10} {'RTF':>7} {'time/' + base:>10}")
    for name, s in scores.items():
        print(
            f"{name:<28} {statistics.mean(s['pesq']):8.3f} {statistics.mean(s['stoi']):7.4f} "
            f"{s['seconds']:10.2f} {s['seconds'] / audio_seconds:7.4f} "
            f"{s['seconds'] / scores[base]['seconds']:10.3f}"
        )


if __name__ == "__main__":
    main()
