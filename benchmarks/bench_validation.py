"""msgspec against pydantic for ttsint's one validation library (issue 22.6): import cost and error output.

Each import runs in its own fresh process, interleaved round by round with the baseline
(``import ttsint``), so a busy machine slows all alike. Prints the median in-process import time of
each and its ratio to the baseline's, then what each library says about three bad addon configs
(a wrong type deep in a table, an unknown key, a missing key), and what ttsint says on msgspec.

    python benchmarks/bench_validation.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from functools import partial

from ttsint_bench.figures import interleaved_seconds

TIMED = """
import time
t = time.perf_counter()
{code}
print(time.perf_counter() - t)
"""
IMPORTS = {
    "import ttsint (baseline)": "import ttsint",
    "import msgspec": "import msgspec",
    "msgspec: a Struct defined and decoded": (
        "import msgspec\n"
        "class N(msgspec.Struct, forbid_unknown_fields=True):\n    file: str\n    sha256: str = ''\n"
        "msgspec.convert({'file': 'a.pt2'}, N)"),
    "import pydantic": "import pydantic",
    "pydantic: a model defined and validated": (
        "import pydantic\n"
        "class N(pydantic.BaseModel):\n    model_config = pydantic.ConfigDict(extra='forbid', strict=True)\n"
        "    file: str\n    sha256: str = ''\n"
        "N.model_validate({'file': 'a.pt2'})"),
}

ERRORS = """
import msgspec, pydantic
class Net(msgspec.Struct, forbid_unknown_fields=True):
    file: str
    role: str
    inputs: list[str]
    outputs: list[str]
    sha256: str | None = None
class Addon(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    networks: dict[str, Net] = {}
class PNet(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    file: str
    role: str
    inputs: list[str]
    outputs: list[str]
    sha256: str | None = None
class PAddon(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", strict=True)
    name: str
    networks: dict[str, PNet] = {}
net = {"file": "d.pt2", "role": "decoder", "inputs": ["frames"], "outputs": ["mel"]}
cases = {
    "wrong type deep": {"name": "x", "networks": {"decoder": {**net, "sha256": 5}}},
    "unknown key": {"name": "x", "networks": {"decoder": {**net, "sha265": "ab"}}},
    "missing key": {"name": "x", "networks": {"decoder": {"file": "d.pt2"}}},
}
from ttsint._schema import NetworkSpec, validate
from ttsint import ConfigError
for label, data in cases.items():
    print(f"-- {label}")
    try:
        msgspec.convert(data, Addon)
    except msgspec.ValidationError as exc:
        print(f"   msgspec:  {exc}")
    try:
        PAddon.model_validate(data)
    except pydantic.ValidationError as exc:
        print("   pydantic: " + str(exc).replace(chr(10), chr(10) + "             "))
        print(f"   pydantic .errors(): {[(e['loc'], e['type'], e['msg']) for e in exc.errors()]}")
    try:  # what ttsint says (msgspec underneath, one network table at a time so the path keeps its name)
        validate(data["networks"]["decoder"], NetworkSpec, "networks.decoder", source="addon.toml")
    except ConfigError as exc:
        print("   ttsint:   " + str(exc).replace(chr(10), chr(10) + "             "))
"""


def timed(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", TIMED.format(code=code)], check=True, capture_output=True,
                         text=True).stdout
    return float(out.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    jobs = {name: partial(timed, code) for name, code in IMPORTS.items()}
    medians = interleaved_seconds(jobs, args.rounds, clock=None)  # each job returns its child's own time
    baseline = medians["import ttsint (baseline)"]
    print(f"{'in a fresh process':42} {'median ms':>10} {'ratio to import ttsint':>23}")
    for name, median in medians.items():
        print(f"{name:42} {1000 * median:10.1f} {median / baseline:23.2f}")
    print()
    print(subprocess.run([sys.executable, "-c", ERRORS], check=True, capture_output=True, text=True).stdout)


if __name__ == "__main__":
    main()
