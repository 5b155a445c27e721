"""What Ray Serve adds: time to first audio and to the whole answer, `ttsint serve` against `--ray`.

    python benchmarks/bench_serve_ray.py [--addon en-rms] [--repeats 10]

Starts both servers on 127.0.0.1 with the same voice (the Ray one on a local Ray instance, one voice
replica, one torch thread), then sends the same one-sentence request to each in turn, so a change in
the machine's load hits both alike. Prints each sample, the medians and the ratios --ray / plain.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import httpx
from bench_serve_fairness import SHORT, timed  # run from benchmarks/, like the other benchmarks


def start(port: int, *args: str) -> subprocess.Popen[bytes]:
    """`ttsint serve ARGS` on ``port``, once its /readyz answers 200."""
    server = subprocess.Popen([sys.executable, "-m", "ttsint", "serve", "--port", str(port), "--log-level",
                               "warning", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.terminate()
            raise SystemExit(f"`ttsint serve {' '.join(args)}` did not become ready")
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", default="en-rms")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--port", type=int, default=8780)
    args = parser.parse_args()

    servers = {"plain": (args.port, ["--addon", args.addon]),  # a worker per core, one torch thread each
               "ray": (args.port + 1, ["--ray", "--addon", args.addon])}
    running = []
    try:
        for port, extra in servers.values():
            running.append(start(port, *extra))
        urls = {name: f"http://127.0.0.1:{port}" for name, (port, _) in servers.items()}
        voice = httpx.get(urls["plain"] + "/v1/voices").json()["data"][0]["name"]
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
        for name in servers:
            timed(urls[name], voice)  # warm-up: first use of each code path
        for _ in range(args.repeats):
            for name in servers:
                samples[name].append(timed(urls[name], voice))
        print(f"addon {args.addon}, one sentence ({len(SHORT)} chars), {args.repeats} requests to each, "
              "alternating")
        medians = {}
        for name, got in samples.items():
            print(f"{name:5} first audio (s): " + " ".join(f"{f:.3f}" for f, _ in got))
            print(f"{name:5} whole answer (s): " + " ".join(f"{t:.3f}" for _, t in got))
            medians[name] = (statistics.median(f for f, _ in got), statistics.median(t for _, t in got))
        (pf, pt), (rf, rt) = medians["plain"], medians["ray"]
        print(f"median first audio: plain {pf:.3f} s, ray {rf:.3f} s, ratio {rf / pf:.2f}")
        print(f"median whole answer: plain {pt:.3f} s, ray {rt:.3f} s, ratio {rt / pt:.2f}")
    finally:
        for server in running:
            server.terminate()
            server.wait(120)


if __name__ == "__main__":
    main()
