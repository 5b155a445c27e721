"""Capacity of `ttsint serve`: how many concurrent listeners each voice keeps in real time.

    python benchmarks/bench_capacity.py [--addon en-rms ...] [--streams 1,2,4,8,16,32] [--modes burst,poisson]
                                        [--plot docs/capacity.png] [--server-args "..."] [--json out.json]

Starts one real `ttsint serve` on 127.0.0.1 hosting every voice measured (default: en-rms, the Piper
voice en_US-joe-medium and the Kokoro voice kokoro-af_heart, those installed), and for each voice in
turn sends N concurrent streaming ``pcm`` requests of a short three-sentence text, from this process (a
light asyncio HTTP/1.1 client, so the client's own CPU cost stays small beside the server's):

- ``burst``: all N requests sent at once;
- ``poisson``: 2N requests at random (exponential) intervals with a mean of D/N, where D is the audio
  length of one text, so that about N streams are open at a time in the middle of the run.

A stream is real-time when, after its first audio, playback would never run dry by more than 0.25 s:
for every arrival of bytes at time t, the audio received before it covers at least t - t_first - 0.25 s.
Each row prints streams admitted (the rest got 429), real-time streams, time to first audio (request
sent -> first audio bytes) p50/p99 and p99 ÷ the idle figure (the median of single streams in the same
run), worst lateness, and the audio received ÷ wall time. The compute bound is cores ÷ (server
CPU-seconds per audio second), measured from /proc on single streams of the same text in the same run:
what the cores could feed if nothing but synthesis ran. A round stops ``--round-timeout`` s after its last
request (its unfinished streams count as not real-time), so the default run takes about five minutes on
a quiet 2-core machine (3 min 42 s and 5 min 11 s measured at load 15–30).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).parent
TEXT = "The train leaves at noon. Call me back. See you soon."
VOICES = ("en-rms", "en_US-joe-medium", "kokoro-af_heart")
SLACK = 0.25


@dataclass
class Result:
    """What one stream looked like from the client."""

    sent: float
    status: int = 0
    first: float | None = None
    end: float | None = None
    audio: float = 0.0
    lateness: float = 0.0
    error: str = ""
    arrivals: list[tuple[float, int]] = field(default_factory=list, repr=False)

    @property
    def ttfa(self) -> float | None:
        return None if self.first is None else self.first - self.sent

    @property
    def real_time(self) -> bool:
        return self.status == 200 and not self.error and self.first is not None and self.lateness <= SLACK


async def request(host: str, port: int, body: bytes, result: Result, bytes_per_second: float) -> None:
    """POST the body, read the chunked pcm response, and record when each piece of audio arrived."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        result.error = f"connect: {exc}"
        return
    try:
        writer.write(b"POST /v1/audio/speech HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (host.encode(), len(body)) + body)
        await writer.drain()
        status_line = await reader.readline()
        result.status = int(status_line.split()[1]) if status_line else 0
        chunked = False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            if name.strip().lower() == "x-sample-rate":
                bytes_per_second = 2.0 * int(value)
        if result.status != 200:
            await reader.read()
            return
        received = 0
        late = 0.0
        first = None
        while True:
            if chunked:
                size_line = await reader.readline()
                if not size_line:
                    result.error = "connection closed mid-stream"
                    break
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    break
                data = await reader.readexactly(size + 2)
                n = size
            else:
                data = await reader.read(65536)
                if not data:
                    break
                n = len(data)
            now = time.perf_counter()
            if first is None:
                first = now
            else:
                late = max(late, (now - first) - received / bytes_per_second)
            received += n
            result.arrivals.append((now, received))
        result.first = first
        result.end = time.perf_counter()
        result.audio = received / bytes_per_second
        result.lateness = late
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        writer.close()


async def run_round(host: str, port: int, voice: str, n: int, mode: str, audio_seconds: float,
                    sample_rate: int, seed: int, timeout: float = 600.0) -> list[Result]:
    body = json.dumps({"voice": voice, "input": TEXT, "response_format": "pcm",
                       "sample_rate": sample_rate}).encode()  # the voice's own rate: no resampling
    bps = sample_rate * 2.0
    results: list[Result] = []
    tasks = []
    rng = random.Random(seed)
    count = n if mode == "burst" else 2 * n
    for i in range(count):
        if mode == "poisson" and i:
            await asyncio.sleep(rng.expovariate(n / audio_seconds))
        r = Result(sent=time.perf_counter())
        results.append(r)
        tasks.append(asyncio.create_task(request(host, port, body, r, bps)))
    _, late = await asyncio.wait(tasks, timeout=timeout)  # counted from the last request sent
    for task in late:  # hung up: the server cancels the stream; the result says it did not finish
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    for r in results:
        if r.status == 200 and r.end is None and not r.error:
            r.error = "not finished when the round ended"
    return results


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def summarize(results: list[Result], idle: float) -> dict:
    ok = [r for r in results if r.status == 200 and not r.error and r.first is not None]
    admitted = [r for r in results if r.status == 200]
    ttfa = [r.ttfa for r in admitted if r.ttfa is not None]
    begin = min(r.sent for r in results)
    end = max((r.end for r in ok if r.end is not None), default=begin)
    return {
        "streams": len(results),
        "admitted": len(admitted),
        "refused": sum(r.status == 429 for r in results),
        "errors": sum(bool(r.error) or r.status not in (200, 429) for r in results),
        "real_time": sum(r.real_time for r in results),
        "ttfa_p50": statistics.median(ttfa) if ttfa else float("nan"),
        "ttfa_p99": pct(ttfa, 0.99),
        "ttfa_p99_over_idle": pct(ttfa, 0.99) / idle if idle > 0 else float("nan"),
        "worst_lateness": max((r.lateness for r in ok), default=0.0),
        "audio_per_wall": sum(r.audio for r in ok) / max(end - begin, 1e-9),
    }


def process_cpu(pid: int) -> float:
    """CPU-seconds (user + system) of a process and its threads so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(server: subprocess.Popen, host: str, port: int, timeout: float = 900) -> None:
    import httpx

    url = f"http://{host}:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            body = httpx.get(url + "/readyz", timeout=5).json()
            if not body.get("loading", True):
                return
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the server did not become ready")
        time.sleep(0.5)


class Server:
    """A `ttsint serve` subprocess hosting the voices; ``src`` puts another ttsint_serve first on the path."""

    def __init__(self, addons: list[str], port: int, args: argparse.Namespace,
                 src: Path | None = None, versus: str | None = None) -> None:
        """``versus``: `ttsint serve` options for a second server of this tree (its ``--addon`` options, if
        any, replace the voices'), named by them."""
        self.port, self.name = port, "baseline" if src else "now"
        extra = shlex.split(args.server_args)
        if versus is not None:
            self.name, extra = versus, shlex.split(versus)
            if "--addon" in extra:
                addons = []
        cmd = [sys.executable, "-m", "ttsint", "serve", *[a for addon in addons for a in ("--addon", addon)],
               "--port", str(port), "--max-streams", str(args.max_streams), "--log-level", "warning", *extra]
        env = dict(os.environ)
        if src is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
        self.process = subprocess.Popen(cmd, env=env)

    def solo_cost(self, voice: str, rate: int, runs: int) -> tuple[float, float, float] | None:
        """Server CPU-seconds per audio second of single streams, one text's audio seconds, and the
        median time to first audio of a single stream (the idle figure); None when the server refused
        every single stream (a voice slower than real time on this machine now)."""
        asyncio.run(run_round("127.0.0.1", self.port, voice, 1, "burst", 1.0, rate, 0))  # warm-up
        cpu, audio, ttfa = 0.0, 0.0, []
        for _ in range(runs):
            before = process_cpu(self.process.pid)
            r = asyncio.run(run_round("127.0.0.1", self.port, voice, 1, "burst", 1.0, rate, 0))[0]
            cpu += process_cpu(self.process.pid) - before
            audio += r.audio
            if r.ttfa is not None:
                ttfa.append(r.ttfa)
        if audio <= 0:
            return None
        return cpu / audio, audio / runs, statistics.median(ttfa) if ttfa else float("nan")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def row_text(name: str, mode: str, n: int, row: dict) -> str:
    return (f"{name:8} {mode:8} {n:3d} {row['admitted']:4d}/{row['streams']:<3d} {row['real_time']:9d} "
            f"{row['ttfa_p50']:8.3f}s {row['ttfa_p99']:8.3f}s {row['ttfa_p99_over_idle']:8.1f}x "
            f"{row['worst_lateness']:9.2f}s {row['audio_per_wall']:9.1f}x"
            + (f"  errors {row['errors']}" if row["errors"] else ""))


def measure_voice(servers: list[Server], info: dict, args: argparse.Namespace) -> dict:
    """Every (mode, N) round on one voice; with --baseline, each round on the baseline server first."""
    voice, rate = info["name"], int(info.get("sample_rate") or info.get("native_sample_rate"))
    cores = os.cpu_count() or 1
    solo = servers[-1].solo_cost(voice, rate, args.solo)
    if solo is None:
        print(f"\n{voice}: not measured, every single stream was refused (429): the server finds it slower "
              "than real time on this machine now", flush=True)
        return {"voice": voice, "sample_rate": rate, "rows": []}
    cost, seconds, idle = solo
    bound = cores / cost
    print(f"\n{voice} ({rate} Hz): one text = {seconds:.2f} s of audio, idle time to first audio "
          f"{idle:.3f} s; one stream costs {cost:.4f} CPU-s per audio second -> compute bound {bound:.1f} "
          f"streams on {cores} cores", flush=True)
    print(f"{'server':8} {'mode':8} {'N':>3} {'admitted':>8} {'real-time':>9} {'TTFA p50':>9} "
          f"{'TTFA p99':>9} {'p99/idle':>9} {'worst late':>10} {'audio/wall':>10}", flush=True)
    rows = []
    for mode in args.modes:
        for n in args.streams:
            for server in servers:
                results = asyncio.run(run_round("127.0.0.1", server.port, voice, n, mode, seconds, rate, n,
                                                timeout=args.round_timeout))
                row = {"server": server.name, "mode": mode, "n": n, **summarize(results, idle)}
                rows.append(row)
                print(row_text(server.name, mode, n, row), flush=True)
                time.sleep(0.3)
    return {"voice": voice, "sample_rate": rate, "audio_seconds": seconds, "idle_ttfa": idle,
            "cpu_per_audio_second": cost, "compute_bound": bound, "rows": rows}


def measure(addons: list[str], args: argparse.Namespace) -> list[dict]:
    """One server (and one baseline server) hosting every voice; the voices measured one after another."""
    servers = [Server(addons, args.port, args)]
    if args.baseline:
        servers.insert(0, Server(addons, args.port + 1, args, args.baseline))
    if args.versus:
        servers.insert(0, Server(addons, args.port + 2, args, versus=args.versus))
    try:
        for server in servers:
            wait_ready(server.process, "127.0.0.1", server.port)
        import httpx

        listed = httpx.get(f"http://127.0.0.1:{args.port}/v1/voices", timeout=60).json()["data"]
        ready = [v for v in listed if v.get("status") == "ready"]
        for v in listed:
            if v.get("status") != "ready":
                print(f"not measured: {v['name']} ({v.get('status')}: {v.get('error', '')})", flush=True)
        return [measure_voice(servers, info, args) for info in ready]
    finally:
        for server in servers:
            server.stop()


def plot(voices: list[dict], path: Path) -> None:
    """Real-time streams (as a share of N for Poisson, whose 2N requests overlap about N at a time) and
    TTFA p99 against N, per voice, arrival mode and server."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2))
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    most = max((r["n"] for v in voices for r in v["rows"]), default=1)
    colors = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
    for i, v in enumerate(v for v in voices if v["rows"]):
        color = colors[i % len(colors)]
        for server in ("baseline", "now"):
            for mode, marker in (("burst", "o"), ("poisson", "s")):
                rows = [r for r in v["rows"] if r["mode"] == mode and r["server"] == server]
                if not rows:
                    continue
                style = dict(marker=marker, color=color, ls="-" if mode == "burst" else "--",
                             alpha=1.0 if server == "now" else 0.4,
                             label=f"{v['voice']} {mode}" + (" (baseline)" if server == "baseline" else ""))
                ns = [r["n"] for r in rows]
                ax1.plot(ns, [r["real_time"] * r["n"] / r["streams"] for r in rows], **style)
                ax2.plot(ns, [r["ttfa_p99"] for r in rows], **style)
        ax1.axhline(min(v["compute_bound"], 2 * most), color=color, lw=0.8, ls=":",
                    label=f"{v['voice']} compute bound {v['compute_bound']:.0f}")
    ax1.plot([1, most], [1, most], color="black", lw=0.5, label="every stream real-time")
    ax1.set(xscale="log", xlabel="concurrent streams N", ylabel="real-time streams (scaled to N)",
            title="Listeners kept in real time")
    ax2.set(xscale="log", yscale="log", xlabel="concurrent streams N", ylabel="seconds",
            title="Time to first audio, p99")
    ax1.legend(fontsize=6)
    ax2.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", action="append",
                        help=f"voice to measure (repeatable; default: those of {', '.join(VOICES)} "
                             "installed)")
    parser.add_argument("--streams", default="1,2,4,8,16,32")
    parser.add_argument("--modes", default="burst,poisson")
    parser.add_argument("--solo", type=int, default=2, help="single-stream runs for the compute bound")
    parser.add_argument("--round-timeout", type=float, default=15.0,
                        help="seconds a round may go on after its last request is sent; streams not finished "
                             "by then are not real-time")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--max-streams", type=int, default=64, help="the servers' --max-streams")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a directory holding another ttsint_serve package (e.g. from `git archive`), "
                             "run as a second server and measured round by round beside this tree's")
    parser.add_argument("--server-args", default="", help="extra `ttsint serve` options, quoted")
    parser.add_argument("--versus", default=None,
                        help="`ttsint serve` options of a second server of this tree, measured round by "
                             "round beside the first (e.g. \"--workers 1\"); its --addon options replace "
                             "the voices")
    parser.add_argument("--plot", type=Path, default=None, help="write the curves to this image")
    parser.add_argument("--json", type=Path, default=None, help="write every figure to this file")
    args = parser.parse_args()
    args.streams = [int(s) for s in args.streams.split(",")]
    args.modes = args.modes.split(",")
    if not args.addon:
        import ttsint

        installed = ttsint.get_registry().addons
        args.addon = [name for name in VOICES if name in installed]
    began = time.perf_counter()
    voices = measure(args.addon, args)
    print(f"\nmeasured in {time.perf_counter() - began:.0f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(voices, indent=1))
    if args.plot:
        plot(voices, args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
