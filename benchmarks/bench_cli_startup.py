"""Start-up time of `ttsint --help`, `ttsint plugins` and `ttsint blocks` next to `python -c "import torch"`.

Each command runs as its own process (the installed console script, next to this interpreter),
interleaved round by round with the torch baseline, so a busy machine slows both alike. Prints the
median wall time of each and its ratio to the baseline's median (issue 9's target: at most 0.25).

    python benchmarks/bench_cli_startup.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from functools import partial
from pathlib import Path

from ttsint_bench.figures import interleaved_seconds

SCRIPT = str(Path(sys.executable).parent / "ttsint")
COMMANDS = {
    'python -c "import torch"': [sys.executable, "-c", "import torch"],
    "ttsint --help": [SCRIPT, "--help"],
    "ttsint plugins": [SCRIPT, "plugins"],
    "ttsint blocks": [SCRIPT, "blocks"],
}


def run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    medians = interleaved_seconds({name: partial(run, argv) for name, argv in COMMANDS.items()}, args.rounds)
    baseline = medians['python -c "import torch"']
    print(f"{'command':28} {'median ms':>10} {'ratio to import torch':>22}")
    for name, median in medians.items():
        print(f"{name:28} {1000 * median:10.1f} {median / baseline:22.3f}")


if __name__ == "__main__":
    main()
