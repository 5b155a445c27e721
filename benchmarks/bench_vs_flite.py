"""en-rms end to end, warm, against Flite (`flite -voice rms`) on the same text, in one run (issue 26).

    python benchmarks/bench_vs_flite.py [--repeats 9] [--vs stack.0.streamable_block.stack.1.type=Decoder]

ttsint: one loaded ``Voice``, the text streamed to its last chunk (front end, sequence blocks, decoder,
PGHI, look-ahead thread as shipped), after a warm-up. Flite: the ``flite`` program writing a WAV, as a
user runs it (process start included; the binary and its voice stay in the page cache, so it is warm
too). Each variant given by ``--vs`` (overrides separated by ``;``) runs as a
second ttsint voice in the same rounds; ``--before DIR`` adds the voice with its vocoder taken from the
ttsint-dsp sources of another checkout (e.g. ``git worktree add /tmp/base HEAD``), for a before/after
in one run. Rounds are interleaved; the medians and their ratios print.
The target: ttsint's real-time factor at most half of Flite's (ratio <= 0.5).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ttsint
from ttsint_bench.suite import texts_by_length


def ttsint_run(voice: ttsint.Voice, text: str) -> tuple[float, float, float]:
    """Wall seconds, process CPU seconds and audio seconds for streaming ``text`` to its end."""
    wall, cpu = time.perf_counter(), time.process_time()
    samples = sum(len(c) for c in voice.stream(text))
    return time.perf_counter() - wall, time.process_time() - cpu, samples / voice.addon.sample_rate


def flite_run(text: str, out: Path) -> tuple[float, float, float]:
    """Wall seconds, the child's CPU seconds and audio seconds of ``flite -voice rms`` writing ``out``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run(["flite", "-voice", "rms", "-t", text, "-o", str(out)], check=True, capture_output=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    samples, rate = ttsint.read_wav(str(out))
    return wall, cpu, len(samples) / rate


def before_voice(addon: str, checkout: Path) -> ttsint.Voice:
    """The addon's voice with its last block (the vocoder) rebuilt from ``checkout``'s ttsint-dsp sources."""
    package = checkout / "plugins" / "ttsint-dsp" / "src" / "ttsint_dsp"
    spec = importlib.util.spec_from_file_location("ttsint_dsp_before", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    if spec is None or spec.loader is None:
        raise SystemExit(f"no ttsint-dsp sources in {checkout}")
    module = sys.modules["ttsint_dsp_before"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    voice = ttsint.Voice.load(addon)
    now = voice.block.stack[-1]
    params = {k: getattr(now.spec, k) for k in ("sample_rate", "hop_length", "n_mels", "n_fft", "win_length",
                                                "fmin", "fmax", "log_floor")}
    voice.block.stack[-1] = getattr(module, type(now).__name__)(**params, chunk_frames=now.chunk_frames)
    return voice


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", default="en-rms")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--text", choices=["1 sentence", "1 paragraph"], default="1 paragraph")
    parser.add_argument("--vs", action="append", default=[],
                        help="a variant: overrides separated by ; (repeatable)")
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also run the vocoder of the checkout DIR (a PGHI voice's before/after)")
    args = parser.parse_args()
    if shutil.which("flite") is None:
        raise SystemExit("flite is not installed (apt-get install flite)")
    text = texts_by_length(quick=True)[args.text]
    voices = {"ttsint": ttsint.Voice.load(args.addon)}
    for spec in args.vs:
        overrides = dict(ttsint.parse_override(o) for o in spec.split(";") if o)
        voices[spec] = ttsint.Voice.load(args.addon, overrides)
    if args.before is not None:
        voices[f"vocoder of {args.before}"] = before_voice(args.addon, args.before)
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in [*voices, "flite"]}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "flite.wav")
        for voice in voices.values():  # warm-up: sessions' first calls, caches
            ttsint_run(voice, text)
        flite_run(text, out)
        load = os.getloadavg()[0]
        for _ in range(args.repeats):
            for name, voice in voices.items():
                results[name].append(ttsint_run(voice, text))
            results["flite"].append(flite_run(text, out))
        load = (load + os.getloadavg()[0]) / 2
    print(f"{args.text}: {len(text)} characters; {args.repeats} interleaved rounds; load average ~{load:.1f}")
    print("| engine | wall (median) | CPU (median) | audio | RTF wall | RTF CPU | RTF wall ÷ flite's | "
          "RTF CPU ÷ flite's |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    flite = results["flite"]
    flite_rtf = statistics.median(r[0] / r[2] for r in flite), statistics.median(r[1] / r[2] for r in flite)
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        audio = runs[0][2]
        rtf = statistics.median(r[0] / r[2] for r in runs), statistics.median(r[1] / r[2] for r in runs)
        print(f"| {name} | {wall * 1e3:.1f} ms | {cpu * 1e3:.1f} ms | {audio:.2f} s | {rtf[0]:.4f} | "
              f"{rtf[1]:.4f} | {rtf[0] / flite_rtf[0]:.3f} | {rtf[1] / flite_rtf[1]:.3f} |")


if __name__ == "__main__":
    main()
