"""Torch at the edge (issue 22 item 5): torch modules imported, and wall time, of a cold `ttsint synth`
per voice, next to `python -c "import torch"` measured in the same run.

Each round runs, as fresh processes and interleaved so a busy machine slows all alike, the torch
baseline and, per voice, `python -X importtime -m ttsint synth "Hello world." --addon VOICE -o F`.
Prints per voice the torch modules the synthesis imported (from the importtime report), its median
wall time and that median divided by the baseline's.

    python benchmarks/bench_torch_free.py [--rounds 3] [--voices en-rms,en_US-joe-medium,kokoro-af_heart]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def torch_modules(importtime: str) -> int:
    """How many modules under ``torch`` a ``-X importtime`` report lists."""
    names = (line.rsplit("|", 1)[1].strip() for line in importtime.splitlines()
             if line.startswith("import time:") and "|" in line)
    return sum(1 for n in names if n == "torch" or n.startswith("torch."))


def run(argv: list[str]) -> tuple[float, str]:
    begin = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    return time.perf_counter() - begin, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--voices", default="en-rms,en_US-joe-medium,kokoro-af_heart")
    args = parser.parse_args()
    voices = [v for v in args.voices.split(",") if v]
    baseline: list[float] = []
    walls: dict[str, list[float]] = {v: [] for v in voices}
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "hello.wav")
        for _ in range(args.rounds):
            baseline.append(run([sys.executable, "-c", "import torch"])[0])
            for voice in voices:
                wall, report = run([sys.executable, "-X", "importtime", "-m", "ttsint", "synth",
                                    "Hello world.", "--addon", voice, "-o", out, "--quiet"])
                walls[voice].append(wall)
                counts[voice] = torch_modules(report)
    base = statistics.median(baseline)
    print(f"{'command':42} {'torch modules':>13} {'median ms':>10} {'ratio to import torch':>22}")
    baseline_name = 'python -c "import torch"'
    print(f"{baseline_name:42} {'':>13} {1000 * base:10.0f} {1.0:22.3f}")
    for voice in voices:
        median = statistics.median(walls[voice])
        print(f"{'ttsint synth --addon ' + voice:42} {counts[voice]:13d} {1000 * median:10.0f} "
              f"{median / base:22.3f}")


if __name__ == "__main__":
    main()
