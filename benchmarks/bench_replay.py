"""The serve scheduler's policy alone: measured step profiles replayed as sleeps, which load barely moves.

    python benchmarks/bench_replay.py --record /tmp/profiles.json [--addon en-rms ...]
    python benchmarks/bench_replay.py --profiles /tmp/profiles.json [--cost en-rms=0.0096 ...]
                                        [--streams 1,2,4,8,16,32] [--baseline DIR]

``--record`` runs each voice's stream of bench_capacity's three-sentence text in this process, one step
(``next``) at a time, and keeps each step's seconds (the least of three runs) and audio seconds: its step
profile. The replay opens N streams at once on a ``Scheduler`` (2 workers, the serve defaults) whose steps
sleep for the profile's seconds instead of computing: a worker is busy exactly as long as the step took, and
the sleeping threads leave the cores to the machine's other work, so the figures follow the scheduling
policy, not the load. ``--cost VOICE=C`` rescales a profile to C worker-seconds per audio second (e.g. the
CPU-s per audio second `bench_capacity.py` printed on a quiet machine). Each stream is read as it comes;
it is real-time when, after its first audio, playback never runs dry by more than 0.25 s (as in
bench_capacity). ``--baseline DIR`` replays the same rounds on the ``ttsint_serve/scheduler.py`` found in DIR
(e.g. a ``git worktree`` of an older commit), round by round beside this tree's.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from bench_capacity import SLACK, TEXT, pct  # noqa: E402

RATE = 1000  # frames per second of the replayed chunks


def record(addons: list[str], path: Path) -> None:
    import ttsint

    profiles = {}
    for name in addons:
        voice = ttsint.Voice.load(name)
        rate = voice.addon.sample_rate
        best: list[list[float]] | None = None
        for run in range(4):  # the first run warms up
            began = time.perf_counter()
            stream = voice.stream(TEXT, lookahead=False)
            steps = [[time.perf_counter() - began, 0.0]]  # the front end of the first sentence
            while True:
                began = time.perf_counter()
                chunk = next(stream, None)
                if chunk is None:
                    break
                steps.append([time.perf_counter() - began, len(chunk) / rate])
            steps[1][0] += steps.pop(0)[0]  # start() and the first chunk run in one step
            if run:
                best = steps if best is None else [[min(a[0], b[0]), a[1]]
                                                   for a, b in zip(best, steps, strict=True)]
        assert best is not None
        profiles[name] = best
        cost = sum(s[0] for s in best) / sum(s[1] for s in best)
        print(f"{name}: {len(best)} steps, {cost:.4f} s per audio s", flush=True)
        voice.close()
    path.write_text(json.dumps(profiles, indent=1))


def scheduler_module(directory: Path | None) -> ModuleType:
    if directory is None:
        from ttsint_serve import scheduler

        return scheduler
    path = directory / "ttsint_serve" / "scheduler.py"
    spec = importlib.util.spec_from_file_location("baseline_scheduler", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def replay(profile: list[list[float]]):  # type: ignore[no-untyped-def]
    import ttsint

    start = 0
    for seconds, audio in profile:
        time.sleep(seconds)
        frames = max(1, round(audio * RATE))
        yield ttsint.Chunk(frames=np.zeros((frames, 1), np.float32), start=start)
        start += frames


async def read(stream, capacity_error: type) -> dict:  # type: ignore[no-untyped-def]
    """Arrival times of a stream's audio, as a listener would play it."""
    sent = stream.opened_at
    first, received, late = None, 0.0, 0.0
    try:
        async for chunk in stream:
            now = time.perf_counter()
            if first is None:
                first = now
            else:
                late = max(late, (now - first) - received)
            received += len(chunk) / RATE
    except capacity_error:
        return {"admitted": False}
    return {"admitted": True, "ttfa": None if first is None else first - sent, "late": late}


async def round_of(module: ModuleType, profiles: dict, voice: str, n: int, workers: int,
                   headroom: float = 0.9, reserve: float = 1.0) -> dict:
    scheduler = module.Scheduler(workers=workers, max_streams=64, headroom=headroom, reserve=reserve)
    profile = profiles[voice]
    for _ in range(2):  # solo streams first, as bench_capacity's: the voice's cost is measured
        await read(scheduler.open(lambda: replay(profile), voice, frame_rate=RATE), module.CapacityError)
    tasks = []
    refused = 0
    for _ in range(n):
        try:
            stream = scheduler.open(lambda: replay(profile), voice, frame_rate=RATE)
        except module.CapacityError:
            refused += 1
            continue
        tasks.append(asyncio.create_task(read(stream, module.CapacityError)))
    results = [r for r in await asyncio.gather(*tasks) if r["admitted"]]
    cost = scheduler.cost(voice)
    await asyncio.to_thread(scheduler.close)
    ttfa = [r["ttfa"] for r in results if r["ttfa"] is not None]
    return {"admitted": len(results), "real_time": sum(r["late"] <= SLACK for r in results),
            "ttfa_p50": statistics.median(ttfa) if ttfa else float("nan"), "ttfa_p99": pct(ttfa, 0.99),
            "worst_late": max((r["late"] for r in results), default=0.0), "refused": refused,
            "refused_late": scheduler.refused_late, "cost": cost}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", type=Path, help="record the step profiles of --addon voices to this file")
    parser.add_argument("--addon", action="append", help="voice to record (repeatable)")
    parser.add_argument("--profiles", type=Path, help="replay the profiles of this file")
    parser.add_argument("--cost", action="append", default=[], metavar="VOICE=C",
                        help="rescale VOICE's profile to C worker-seconds per audio second")
    parser.add_argument("--streams", default="1,2,4,8,16,32")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--headroom", type=float, default=0.9, help="the schedulers' headroom (--headroom)")
    parser.add_argument("--reserve", type=float, default=1.0, help="the schedulers' reserve")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a directory holding another ttsint_serve package, replayed beside this tree's")
    args = parser.parse_args()
    if args.record:
        record(args.addon or ["en-rms"], args.record)
        return
    if not args.profiles:
        parser.error("give --record FILE or --profiles FILE")
    profiles = json.loads(args.profiles.read_text())
    for item in args.cost:
        name, _, cost = item.partition("=")
        steps = profiles[name]
        scale = float(cost) / (sum(s[0] for s in steps) / sum(s[1] for s in steps))
        profiles[name] = [[s[0] * scale, s[1]] for s in steps]
    servers = [("now", scheduler_module(None))]
    if args.baseline:
        servers.insert(0, ("baseline", scheduler_module(args.baseline)))
    for voice, steps in profiles.items():
        cost = sum(s[0] for s in steps) / sum(s[1] for s in steps)
        print(f"\n{voice}: {sum(s[1] for s in steps):.2f} s of audio in {len(steps)} steps, longest "
              f"{max(s[0] for s in steps):.3f} s; {cost:.4f} worker-s per audio s -> compute bound "
              f"{args.workers / cost:.1f} streams on {args.workers} workers", flush=True)
        print(f"{'scheduler':9} {'N':>3} {'admitted':>8} {'real-time':>9} {'TTFA p50':>9} {'TTFA p99':>9} "
              f"{'worst late':>10} {'refused at open / first step':>27} {'measured cost':>13}", flush=True)
        for n in (int(s) for s in args.streams.split(",")):
            for name, module in servers:
                row = asyncio.run(round_of(module, profiles, voice, n, args.workers, args.headroom,
                                           args.reserve))
                print(f"{name:9} {n:3d} {row['admitted']:8d} {row['real_time']:9d} {row['ttfa_p50']:8.3f}s "
                      f"{row['ttfa_p99']:8.3f}s {row['worst_late']:9.2f}s {row['refused']:13d} / "
                      f"{row['refused_late']:<11d} "
                      f"{row['cost']:13.4f}", flush=True)


if __name__ == "__main__":
    main()
