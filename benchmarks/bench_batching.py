"""Does batching across streams pay? One network call over B equal-shape inputs against B single calls.

    python3 -u benchmarks/bench_batching.py [--addon en-rms ...] [--batches 1,2,4,8,16] [--repeats 15]

For each voice (default: en-rms, en_US-joe-medium and kokoro-af_heart, those installed) it loads the
voice as an addon builds it (the same ONNX Runtime sessions and thread settings), speaks one sentence
while recording the inputs of every network call, and then, per network and per recorded call that
matters to the first audio (the first call of each network, and a steady window of a windowed one):

- B single calls of the recorded input (each stream's copy perturbed, so the calls are distinct), and
- one call over the B inputs stacked on the batch dimension,

alternated ``--repeats`` times so both see the same load. It prints the median time of each, the ratio
batched ÷ singles (below 1: batching pays) and the largest difference between a stream's slice of the
batched output and its own single call (the batch contract asks for ≤ 1e-5). An input without a batch
dimension of one (Piper's ``scales``), or a graph that refuses a batch, is reported as not batchable.

Kokoro runs its whole network per sentence in its own shared session; it is measured through that
session (tokens, style, speed) the same way. The first figure per voice says how much of a stream's
first chunk is network time at all: the most that batching could take off the time to first audio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import ttsint

TEXT = "The train leaves at noon. Call me back. See you soon."
VOICES = ("en-rms", "en_US-joe-medium", "kokoro-af_heart")
LABELS = ("fa", "ft", "fb", "wa", "wt", "wb")  # first chunks / whole streams: alone, threads, batched


def record_calls(voice: ttsint.Voice) -> tuple[dict[str, list[dict[str, np.ndarray]]], float, float]:
    """Every network call's inputs during one stream of TEXT, per network; and the first chunk's wall time
    and the network seconds spent within it."""
    calls: dict[str, list[dict[str, np.ndarray]]] = {}
    spent = [0.0]

    def tap(name: str, execute: Callable[..., Any]) -> Callable[..., Any]:
        def recorded(tensors: dict[str, Any]) -> Any:
            calls.setdefault(name, []).append({k: np.array(ttsint.to_numpy(v)) for k, v in tensors.items()})
            began = time.perf_counter()
            out = execute(tensors)
            spent[0] += time.perf_counter() - began
            return out
        return recorded

    for binding in voice.bindings:
        executable = binding.executable
        executable.execute = tap(f"{binding.block_path}:{binding.network.name}", executable.execute)
    began = time.perf_counter()
    stream = voice.stream(TEXT, lookahead=False)
    next(iter(stream))
    first = time.perf_counter() - began
    in_networks = spent[0]
    for _ in stream:
        pass
    for binding in voice.bindings:
        del binding.executable.execute
    return calls, first, in_networks


def perturbed(inputs: dict[str, np.ndarray], i: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Stream ``i``'s copy of one call's inputs: float inputs other than masks moved a little, so the B calls
    differ (integer inputs and masks stay as they were)."""
    out = {}
    for k, v in inputs.items():
        if i and v.dtype.kind == "f" and k != "mask" and v.size:
            v = (v + rng.normal(0, 0.01, v.shape)).astype(v.dtype)
        out[k] = v
    return out


def batchable(inputs: dict[str, np.ndarray]) -> str | None:
    """Why these inputs cannot be stacked on a batch dimension, or None when they can."""
    for k, v in inputs.items():
        if v.ndim == 0 or v.shape[0] != 1:
            return f"input {k!r} has shape {list(v.shape)}, no batch dimension of one"
    return None


def compare(run: Callable[[dict[str, np.ndarray]], list[np.ndarray]], inputs: dict[str, np.ndarray],
            batches: list[int], repeats: int) -> list[tuple[int, float, float, float]]:
    """(B, median ms of B single calls, median ms of one batched call, largest per-stream difference)."""
    rng = np.random.default_rng(0)
    most = max(batches)
    copies = [perturbed(inputs, i, rng) for i in range(most)]
    singles = [run(c) for c in copies]  # also warms each shape up
    rows = []
    for b in batches:
        stacked = {k: np.concatenate([c[k] for c in copies[:b]], axis=0) for k in inputs}
        out = run(stacked)
        for o, s in zip(out, singles[0], strict=True):
            if o.shape[:1] != (b,) or o.shape[1:] != s.shape[1:]:
                raise ValueError(f"a batch of {b} gave an output of shape {list(o.shape)} "
                                 f"(one stream's: {list(s.shape)})")
        diff = max((float(np.max(np.abs(o[i:i + 1] - singles[i][j]))) if o.size else 0.0
                    for i in range(b) for j, o in enumerate(out)), default=0.0)
        one, many = [], []
        for _ in range(repeats):
            began = time.perf_counter()
            for c in copies[:b]:
                run(c)
            one.append(time.perf_counter() - began)
            began = time.perf_counter()
            run(stacked)
            many.append(time.perf_counter() - began)
        rows.append((b, 1000 * statistics.median(one), 1000 * statistics.median(many), diff))
    return rows


def print_rows(label: str, shape: str, rows: list[tuple[int, float, float, float]]) -> None:
    print(f"  {label}  {shape}")
    print(f"    {'B':>3} {'B singles':>10} {'1 batched':>10} {'batched/singles':>16} {'max diff':>9}")
    for b, one, many, diff in rows:
        print(f"    {b:3d} {one:8.2f}ms {many:8.2f}ms {many / one:16.2f} {diff:9.1e}", flush=True)


def shape_of(inputs: dict[str, np.ndarray]) -> str:
    return ", ".join(f"{k} {list(v.shape)}" for k, v in inputs.items())


def batch_runner(binding: Any) -> tuple[Callable[[dict[str, np.ndarray]], list[np.ndarray]], str, Any]:
    """Run a bound network on named NumPy inputs, as its executable does; for an ONNX Runtime session whose
    graph fixes a batch of one, a session of the same graph with that dimension made symbolic (same
    options), a note saying so, and that session (None when the addon's serves)."""
    executable, network = binding.executable, binding.network
    outputs = network.outputs

    def run(tensors: dict[str, np.ndarray]) -> list[np.ndarray]:
        out = executable(tensors)
        return [np.asarray(ttsint.to_numpy(out[n])) for n in outputs]

    if getattr(executable, "session", None) is None or network.onnx is None:
        return run, "", None
    import onnx
    import onnxruntime as ort
    from ttsint_onnx import symbolic_batch

    model = onnx.load_from_string(network.onnx.read())
    if not symbolic_batch(model):
        return run, "", None
    runtime = executable.runtime
    session = ort.InferenceSession(model.SerializeToString(), runtime.session_options(),
                                   providers=runtime.providers())
    return (lambda tensors: session.run(outputs, tensors)), "batch dimension made symbolic", session


def single_cost(a: Callable[..., Any], b: Callable[..., Any], inputs: dict[str, np.ndarray],
                repeats: int) -> float:
    """Median time of single calls by ``b`` ÷ by ``a``, alternated."""
    ta, tb = [], []
    for _ in range(repeats):
        for run, times in ((a, ta), (b, tb)):
            began = time.perf_counter()
            for _ in range(5):
                run(inputs)
            times.append(time.perf_counter() - began)
    return statistics.median(tb) / statistics.median(ta)


def measure_networks(name: str, batches: list[int], repeats: int) -> None:
    with ttsint.Voice.load(name) as voice:
        calls, first, in_networks = record_calls(voice)
        print(f"\n{name}: first chunk {1000 * first:.1f} ms, of which network calls "
              f"{1000 * in_networks:.1f} ms ({in_networks / max(first, 1e-9):.0%}); calls per stream: "
              + ", ".join(f"{k.rsplit(':', 1)[1]} {len(v)}" for k, v in calls.items()), flush=True)
        sessions: dict[str, Any] = {}
        takes: set[str] = set()
        for binding in voice.bindings:
            key = f"{binding.block_path}:{binding.network.name}"
            recorded = calls.get(key, [])
            # The first call (what the first audio waits for) and, for a windowed network, a steady window.
            picks = [(0, "first call")] + ([(1, "second call")] if len(recorded) > 1 else [])
            executable = binding.executable
            run, note, session = batch_runner(binding)
            sessions[key] = session
            for index, what in picks:
                inputs = recorded[index]
                label = f"{binding.network.name} ({what}, {executable.runtime.name}{', ' * bool(note)}{note})"
                why = batchable(inputs)
                if why is not None:
                    print(f"  {label}: not batchable: {why}")
                    continue
                if note:
                    def shipped(tensors: dict[str, np.ndarray], executable: Any = executable) -> Any:
                        return executable(tensors)
                    label += (f"; its single calls take {single_cost(shipped, run, inputs, repeats):.2f}x "
                              "the shipped graph's")
                try:
                    rows = compare(run, inputs, batches, repeats)
                except Exception as exc:  # the graph refuses a batch > 1
                    print(f"  {label}: not batchable: {type(exc).__name__}: {str(exc)[:200]}")
                    sessions.pop(key, None)
                    continue
                print_rows(label, shape_of(inputs), rows)
                takes.add(key)
        measure_steps(voice, {k: v for k, v in sessions.items() if k in takes}, batches, repeats)


def measure_steps(voice: ttsint.Voice, batchable: dict[str, Any], batches: list[int], repeats: int) -> None:
    """B streams' first chunks, and B whole streams, made one stream after another, then stepped together
    (``ttsint.BatchGroup``) with no network batchable (threads only), then with the networks that took a batch
    above declared ``batch = true`` (on their batch-capable sessions): what a server's worker would see."""
    bound = {f"{b.block_path}:{b.network.name}": b for b in voice.bindings}
    held = [v for node in ttsint.walk(voice.block) for v in vars(node.block).values()
            if isinstance(v, ttsint.Network)]
    for key, session in batchable.items():
        if session is not None:
            bound[key].executable.session = session
    names = {bound[k].network.name for k in batchable}

    def declare(on: bool) -> None:
        for net in held:
            if net.name in names:
                net.batch = on

    def first() -> Any:
        return next(iter(voice.stream(TEXT, lookahead=False)))

    def whole_alone(b: int) -> None:
        for _ in range(b):
            for _ in voice.stream(TEXT, lookahead=False):
                pass

    def whole_together(group: ttsint.BatchGroup, b: int) -> None:
        streams = [iter(voice.stream(TEXT, lookahead=False)) for _ in range(b)]
        live = list(range(b))
        while live:
            out = group.run([lambda i=i: next(streams[i], None) for i in live])
            live = [i for i, chunk in zip(live, out, strict=True) if chunk is not None]

    print(f"  steps of B streams (batchable: {', '.join(sorted(names)) or 'none'}): CPU time (all threads) "
          "and wall time, ÷ the streams made one after another")
    print(f"    {'B':>3} {'first chunks alone':>19} {'threads':>12} {'batched':>12} "
          f"{'whole streams alone':>20} {'threads':>12} {'batched':>12}")
    print(f"    {'':>3} {'CPU / wall ms':>19} {'CPU / wall':>12} {'CPU / wall':>12} {'CPU / wall ms':>20} "
          f"{'CPU / wall':>12} {'CPU / wall':>12}")
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(batches)) as pool:
        group = ttsint.BatchGroup(pool)
        for b in batches:
            times: dict[str, list[tuple[float, float]]] = {k: [] for k in LABELS}
            work = {"fa": lambda b=b: [first() for _ in range(b)], "ft": lambda b=b: group.run([first] * b),
                    "wa": lambda b=b: whole_alone(b), "wt": lambda b=b: whole_together(group, b)}
            work["fb"], work["wb"] = work["ft"], work["wt"]
            for _ in range(max(3, repeats // 3)):
                for label in LABELS:
                    declare(label.endswith("b"))
                    cpu, wall = time.process_time(), time.perf_counter()
                    work[label]()
                    times[label].append((time.process_time() - cpu, time.perf_counter() - wall))
            declare(False)
            cpu = {k: statistics.median(c for c, _ in v) for k, v in times.items()}
            wall = {k: statistics.median(w for _, w in v) for k, v in times.items()}

            def ratio(k: str, base: str, cpu: dict[str, float] = cpu, wall: dict[str, float] = wall) -> str:
                return f"{cpu[k] / cpu[base]:.2f} / {wall[k] / wall[base]:.2f}"

            print(f"    {b:3d} {1000 * cpu['fa']:9.1f} / {1000 * wall['fa']:6.1f} {ratio('ft', 'fa'):>12} "
                  f"{ratio('fb', 'fa'):>12} {1000 * cpu['wa']:10.1f} / {1000 * wall['wa']:6.1f} "
                  f"{ratio('wt', 'wa'):>12} {ratio('wb', 'wa'):>12}", flush=True)


def measure_kokoro(name: str, batches: list[int], repeats: int) -> None:
    """Kokoro's whole network per sentence, through its shared session: tokens [B, N], style [B, 256]."""
    with ttsint.Voice.load(name) as voice:
        block = next(n.block for n in ttsint.walk(voice.block) if hasattr(n.block, "session"))
        _, utt = next(iter(voice.segments(TEXT)))
        began = time.perf_counter()
        stream = iter(voice.stream(TEXT, lookahead=False))
        next(stream)
        first = time.perf_counter() - began
        for _ in stream:
            pass
        stats = block.report()
        print(f"\n{name}: first chunk {1000 * first:.1f} ms (the whole first sentence's network call: "
              f"{stats.get('network_seconds', 0) * 1000:.1f} ms)", flush=True)
        from ttsint_kokoro.voices import style_for

        tokens = np.asarray(utt["symbols"], np.int64)
        session = block.session.session
        style = style_for(block.pack, len(tokens) - 2).reshape(1, -1).astype(np.float32)

        def run(tensors: dict[str, np.ndarray]) -> list[np.ndarray]:
            b = tensors["tokens"].shape[0]
            return session.run(None, {"tokens": tensors["tokens"], "style": tensors["style"],
                                      "speed": np.ones(b, np.float32)})

        inputs = {"tokens": tokens[None], "style": style}
        label = "kokoro network (first sentence)"
        try:  # a batch of two first: the published export fixes a batch of one
            run({k: np.concatenate([v, v]) for k, v in inputs.items()})
            rows = compare(run, inputs, batches, repeats)
        except Exception as exc:
            print(f"  {label}: not batchable: {type(exc).__name__}: {str(exc)[:300]}")
            return
        print_rows(label, shape_of(inputs), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addon", action="append",
                        help=f"voice (repeatable; default: those of {VOICES} installed)")
    parser.add_argument("--batches", default="1,2,4,8,16")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    names = args.addon or [n for n in VOICES if n in ttsint.get_registry().addons]
    for name in names:
        if name.startswith("kokoro-"):
            measure_kokoro(name, batches, args.repeats)
        else:
            measure_networks(name, batches, args.repeats)


if __name__ == "__main__":
    main()
