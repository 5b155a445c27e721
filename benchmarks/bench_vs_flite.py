"""en-rms end to end, warm, against Flite (`flite -voice rms`) on the same text, in one run (issue 26).

    python benchmarks/bench_vs_flite.py [--repeats 9] [--vs stack.0.streamable_block.stack.1.type=Decoder]

ttsint: one loaded ``Voice``, the text streamed to its last chunk (front end, sequence blocks, decoder,
PGHI, look-ahead thread as shipped), after a warm-up. Flite: the ``flite`` program writing a WAV, as a
user runs it (process start included; the binary and its voice stay in the page cache, so it is warm
too). Each variant given by ``--vs`` (overrides separated by ``;``) runs as a second ttsint voice in
the same rounds; ``--before DIR`` adds the voice run from the sources of another checkout (e.g.
``git worktree add /tmp/base HEAD``) in a child process, for a before/after in one run. Rounds are
interleaved; the medians and their ratios print.
The target: ttsint's real-time factor at most half of Flite's (ratio <= 0.5).
"""

from __future__ import annotations

import argparse
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


class Before:
    """The voice run from the sources of another checkout, in a child process that times one round per
    line it reads: the code of ``--before DIR`` timed in the same rounds."""

    def __init__(self, checkout: Path, addon: str, text: str) -> None:
        sources = [checkout / "core" / "src", *sorted(checkout.glob("plugins/*/src"))]
        if not sources[0].is_dir():
            raise SystemExit(f"{checkout} is not a ttsint checkout (no core/src)")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, sources))}
        self.child = subprocess.Popen([sys.executable, __file__, "--child", "--addon", addon, "--text", text],
                                      env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self) -> tuple[float, float, float]:
        assert self.child.stdin is not None and self.child.stdout is not None
        self.child.stdin.write("go\n")
        self.child.stdin.flush()
        wall, cpu, audio = map(float, self.child.stdout.readline().split())
        return wall, cpu, audio

    def close(self) -> None:
        assert self.child.stdin is not None
        self.child.stdin.close()
        self.child.wait()


def child(addon: str, text: str) -> None:
    """The ``--before`` side: load the voice, then one timed round per line read."""
    voice = ttsint.Voice.load(addon)
    for _ in sys.stdin:
        print(*ttsint_run(voice, text), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", default="en-rms")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--text", choices=["1 sentence", "1 paragraph"], default="1 paragraph")
    parser.add_argument("--vs", action="append", default=[],
                        help="a variant: overrides separated by ; (repeatable)")
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also run the voice from the sources of the checkout DIR, in a child process")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    text = texts_by_length(quick=True)[args.text]
    if args.child:
        return child(args.addon, text)
    if shutil.which("flite") is None:
        raise SystemExit("flite is not installed (apt-get install flite)")
    voices: dict[str, ttsint.Voice | Before] = {"ttsint": ttsint.Voice.load(args.addon)}
    for spec in args.vs:
        overrides = dict(ttsint.parse_override(o) for o in spec.split(";") if o)
        voices[spec] = ttsint.Voice.load(args.addon, overrides)
    if args.before is not None:
        voices[f"ttsint at {args.before}"] = Before(args.before, args.addon, args.text)
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in [*voices, "flite"]}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "flite.wav")
        def run(voice: ttsint.Voice | Before) -> tuple[float, float, float]:
            return voice.run() if isinstance(voice, Before) else ttsint_run(voice, text)

        for voice in voices.values():  # warm-up: sessions' first calls, caches
            run(voice)
        flite_run(text, out)
        load = os.getloadavg()[0]
        for _ in range(args.repeats):
            for name, voice in voices.items():
                results[name].append(run(voice))
            results["flite"].append(flite_run(text, out))
        load = (load + os.getloadavg()[0]) / 2
        for voice in voices.values():
            if isinstance(voice, Before):
                voice.close()
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
