"""The benchmark suite: each item measures something against a baseline run in the same process and minute."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import ttsint
from ttsint_dsp import MelSpec, Vocoder, log_mel, mel_input

from .figures import Item, interleaved_samples, interleaved_seconds, machine_info
from .peers import PEERS
from .report import SCHEMA
from .wer import Transcriber, edit_distance, everyday_sentences, words

__all__ = ["ITEMS", "Bench", "run_suite", "texts_by_length"]

#: Griffin-Lim as en-rms shipped it before PGHI: the vocoder baseline.
GRIFFIN_LIM_64 = {"type": "GriffinLim", "n_iter": 64}
#: What installs the extra figures: PESQ, STOI and the word error rate's recogniser.
QUALITY = "pip install 'ttsint-bench[quality]'"


def texts_by_length(quick: bool) -> dict[str, str]:
    """One sentence, one paragraph, then 500 and 2,000 words made of the everyday sentences in turn."""
    sentences = everyday_sentences()
    out = {"1 sentence": sentences[0], "1 paragraph": " ".join(sentences[:8])}
    if not quick:
        for target in (500, 2000):
            picked, count, i = [], 0, 0
            while count < target:
                picked.append(sentences[i % len(sentences)])
                count += len(words(picked[-1]))
                i += 1
            out[f"{target} words"] = " ".join(picked)
    return out


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class Bench:
    """What every item needs: the voice under test, the run's size, and a place for shared measurements."""

    addon: str
    quick: bool
    voice: ttsint.Voice = field(init=False)

    def __post_init__(self) -> None:
        self.voice = ttsint.Voice.load(self.addon)
        self.rate = self.voice.addon.sample_rate
        self.hop = self.voice.addon.hop_length
        self.repeats = 3 if self.quick else 7  # three at least: a spread needs more than two
        self.texts = texts_by_length(self.quick)
        #: the text most items speak: a sentence in a quick run, a paragraph otherwise
        self.sample = self.texts["1 sentence" if self.quick else "1 paragraph"]

    # -- parts of the stack ------------------------------------------------------------
    def mel_block(self) -> ttsint.StreamableBlock:
        """The part of the stack that makes mel (everything before the vocoder)."""
        return mel_input(self.voice.block) or self.voice.block

    def acoustic_parts(
        self, stack: ttsint.StreamableBlock | None = None
    ) -> tuple[ttsint.StreamablePipeline, ttsint.StreamableBlock, ttsint.StreamableBlock]:
        """The acoustic model's pipeline with its upsampler and decoder (of ``stack``, else the voice's)."""
        block = self.mel_block() if stack is None else mel_input(stack) or stack
        found = ttsint.find(block, ttsint.StreamablePipeline)
        pipeline = found.block if found is not None else None
        parts = [f.node.block for f in ttsint.flows(pipeline) if f.leaf] if pipeline is not None else []
        if pipeline is None or len(parts) < 2 or not hasattr(parts[1], "network"):
            raise ttsint.TTSIntError(
                f"addon {self.addon!r}: this item needs a StreamablePipeline whose "
                "streamable stack starts with an upsampler and a network decoder"
            )
        return pipeline, parts[0], parts[1]

    def audio_seconds(self, frames: torch.Tensor, kind: str | None) -> float:
        n = frames.shape[0] if kind == "waveform" else frames.shape[0] * self.hop
        return n / self.rate


def _first_chunk_seconds(stream: Callable[[], Iterator[ttsint.Chunk]]) -> float:
    start = time.perf_counter()
    chunks = stream()
    next(chunks)
    seconds = time.perf_counter() - start
    chunks.close()
    return seconds


# -- items ------------------------------------------------------------------------------
def ttfa(bench: Bench, item: Item) -> None:
    """Time to first audio against text length: ttsint streaming and whole, and the peers (whole only)."""
    voice = bench.voice
    peers = [p for p in PEERS.values() if p.available()]
    item.notes.append(
        f"peers: {', '.join(p.name for p in peers) or 'none installed'}; "
        "neither streams, so its first audio is its total time (process start to WAV written)"
    )
    for peer in PEERS.values():
        if peer not in peers:
            item.skip(f"{peer.name} first audio", f"{peer.program} is not installed", peer.package)
    for label, text in bench.texts.items():
        n_words = len(words(text))
        repeats = bench.repeats if n_words < 400 else 1
        try:
            times = interleaved_seconds(
                {
                    "whole": lambda t=text: voice.synthesize(t),
                    "stream": lambda t=text: _first_chunk_seconds(lambda: voice.stream(t)),
                },
                repeats,
            )
        except Exception as exc:  # a length the stack cannot take is a finding, not a crash
            item.notes.append(
                f"{label}: ttsint failed: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            )
            continue
        base = times["whole"]
        item.add(
            f"ttsint first audio, streaming ({label})",
            times["stream"],
            "s",
            "ttsint whole utterance",
            base,
            engine="ttsint stream",
            words=n_words,
        )
        item.add(
            f"ttsint whole utterance ({label})",
            base,
            "s",
            "ttsint whole utterance",
            base,
            engine="ttsint whole",
            words=n_words,
        )
        for peer in peers:
            spoken = peer.speak(text)
            item.add(
                f"{peer.name} first audio = total ({label})",
                spoken.seconds,
                "s",
                "ttsint whole utterance",
                base,
                engine=peer.name,
                words=n_words,
            )


def overhead(bench: Bench, item: Item) -> None:
    """The streaming acoustic stack against a hand-written loop: same networks, same windows."""
    pipeline, upsampler, decoder = bench.acoustic_parts()
    utt = bench.voice.encode(bench.sample)
    by_hand = hand_written_loop(bench.voice.addon, utt, upsampler, decoder, bench.voice.bindings)
    chunks = 0

    def by_stack() -> torch.Tensor:
        nonlocal chunks
        got = list(pipeline.stream(utt, None))
        chunks = len(got)
        return ttsint.to_torch(ttsint.concat_chunks(got))  # en-rms makes NumPy

    if not torch.allclose(by_hand(), by_stack(), atol=1e-5):
        item.notes.append("the hand-written loop's mel differs from the stack's: figures not comparable")
    fns = {"loop": by_hand, "stack": by_stack}
    times = interleaved_seconds(fns, bench.repeats * 2)
    with torch_threads(1):  # every operator in this thread, so its CPU time is the whole cost
        cpu = interleaved_seconds(fns, bench.repeats * 4, clock=time.thread_time)
    for label, t, how in (("", times, "wall time"), (", CPU time at 1 thread", cpu, "CPU time")):
        item.add(
            f"stack streaming, all chunks{label}",
            t["stack"],
            "s",
            f"hand-written loop ({how})",
            t["loop"],
            "<= 1.05",
            chunks=chunks,
        )
    item.notes.append(
        f"{chunks} chunks of mel for {len(words(bench.sample))} words with the addon's windows; Python "
        "per-call work of the blocks (generators, chunk checks, concatenation) is what the difference holds"
    )
    overhead_per_chunk(bench, item, utt, decoder)


#: Decoder window for the per-chunk figure: small, so an utterance streams in dozens of chunks.
PER_CHUNK_FRAMES = 8


class _TimedModule:
    """An exported module adding the CPU time of each call to ``spent``: the networks' share of a run."""

    def __init__(self, module: Any, spent: list[float]) -> None:
        self.module = module
        self.spent = spent

    def __call__(self, *args: torch.Tensor) -> Any:
        begin = time.thread_time()
        try:
            return self.module(*args)
        finally:
            self.spent[0] += time.thread_time() - begin


def overhead_per_chunk(bench: Bench, item: Item, utt: ttsint.Utterance, decoder: Any) -> None:
    """(stack - loop) / chunks over many small windows, per interleaved repeat, in CPU time at 1 thread.

    With the addon's schedule a paragraph streams in 3 chunks, and the difference divided by 3 is
    run-to-run noise; windows of ``PER_CHUNK_FRAMES`` (context unchanged, so still exact) give dozens.
    Both sides call the same timed modules, so the time outside the networks is a second, steadier figure.
    """
    spent = [0.0]
    addon = bench.voice.addon
    timed = dataclasses.replace(addon, networks={
        name: dataclasses.replace(net, module=_TimedModule(net.module, spent), executable=None)
        for name, net in addon.networks.items()
    })
    inside: dict[str, list[float]] = {"loop": [], "stack": []}

    def networks_timed(name: str, fn: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            spent[0] = 0.0
            out = fn()
            inside[name].append(spent[0])
            return out
        return run

    with small_window_voice(bench, timed, decoder, PER_CHUNK_FRAMES) as voice:
        _, upsampler, small = bench.acoustic_parts(voice.block)
        by_hand = hand_written_loop(timed, utt, upsampler, small, voice.bindings)
        chunks = 0

        def by_stack() -> torch.Tensor:  # the whole mel stack as a Voice streams it, output guard included
            nonlocal chunks
            got = list(voice.stream_utterance(utt))
            chunks = len(got)
            return ttsint.to_torch(ttsint.concat_chunks(got))  # en-rms makes NumPy

        if not torch.allclose(by_hand(), by_stack(), atol=1e-5):
            item.notes.append("small windows: the loop's mel differs from the stack's: not comparable")
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        fns = {"loop": networks_timed("loop", by_hand), "stack": networks_timed("stack", by_stack)}
        with torch_threads(1):
            # no warm-up round: both ran just above, for the comparison of their mel
            cpu = interleaved_samples(fns, 5 if bench.quick else 40, warmup=0, clock=time.thread_time)
    pairs = list(zip(cpu["stack"], cpu["loop"], inside["stack"], inside["loop"], strict=True))
    total = sorted((s - lo) / chunks * 1e6 for s, lo, _, _ in pairs)
    outside = sorted(((s - si) - (lo - li)) / chunks * 1e6 for s, lo, si, li in pairs)
    networks = statistics.median((si - li) / chunks * 1e6 for _, _, si, li in pairs)
    loop_per_chunk = statistics.median(cpu["loop"]) / chunks * 1e6
    for name, per in (("", total), (", outside the network calls", outside)):
        p25, median, p75 = statistics.quantiles(per, n=4) if len(per) > 1 else per * 3
        item.add(
            f"overhead per chunk{name}, CPU time at 1 thread (many chunks)",
            median,
            "us",
            "hand-written loop per chunk (CPU time)",
            loop_per_chunk,
            "<= 100",
            target_of="value",
            repeats=per,
            chunks=chunks,
            n_repeats=len(per),
            chunk_frames=PER_CHUNK_FRAMES,
            context_frames=small.context_frames,
            p25=p25,
            p75=p75,
            min=per[0],
            max=per[-1],
            load_average=load,
        )
        item.notes.append(
            f"per chunk{name}: median {median:.0f} us, quartiles {p25:.0f} to {p75:.0f} us, range "
            f"{per[0]:.0f} to {per[-1]:.0f} us of the (stack - loop) difference / chunks"
        )
    item.notes.append(
        f"{chunks} windows of {PER_CHUNK_FRAMES} frames with {small.context_frames} frames of context each "
        f"side, {len(total)} interleaved repeats; inside the network calls (the same calls on equal inputs) "
        f"the stack took {networks:+.0f} us a chunk against the loop (median), in the first figure only"
    )


def small_window_voice(bench: Bench, addon: ttsint.Addon, decoder: Any, frames: int) -> ttsint.Voice:
    """The addon's stack up to its decoder's top-level entry, with every decoder window ``frames`` long."""
    path = re.sub(r"\[(\d+)\]", r".\1", decoder.config_path or "")
    top = re.match(r"stack\.(\d+)(\.|$)", path)
    if top is None:
        raise ttsint.TTSIntError(f"addon {bench.addon!r}: the decoder has no config path under stack[...]")
    windows = {f"{path}.{key}": value for key, value in
               (("chunk_frames", frames), ("first_chunk_frames", frames), ("chunk_growth", None))}
    config = ttsint.apply_overrides({"stack": addon.stack}, windows)
    # On torch: the timed modules are what both sides call (another runtime would not call them).
    return ttsint.Voice(addon, stack=config["stack"][: int(top.group(1)) + 1], runtime="torch")


def hand_written_loop(
    addon: ttsint.Addon, utt: ttsint.Utterance, upsampler: Any, decoder: Any, bindings: Any = ()
) -> Callable[[], torch.Tensor]:
    """The acoustic model without the framework: the same networks on the decoder's windows.

    ``bindings`` (a Voice's) give each network the executable the stack calls, so both sides run the
    same runtime (en-rms runs ONNX forms by default; its torch modules would be another comparison).
    """
    encoders = [n for level in ttsint.network_levels(addon.networks_with_role("encoder")) for n in level]
    executables = {b.network.name: b.executable for b in bindings}

    def call(net: ttsint.Network, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        length = next(iter(tensors.values())).shape[0]
        args = {n: torch.ones(1, length) if n == "mask" else tensors[n][None] for n in net.inputs}
        run = executables.get(net.name)
        if run is not None:
            return {name: o[0] for name, o in run(args).items()}
        out = net.module(*args.values())
        out = (out,) if isinstance(out, torch.Tensor) else out
        return {name: o[0] for name, o in zip(net.outputs, out, strict=True)}

    def by_hand() -> torch.Tensor:
        with torch.inference_mode():
            tensors = {k: ttsint.to_torch(v) for k, v in utt.items()}  # en-rms's front end: NumPy
            for net in encoders:
                tensors.update(call(net, {n: tensors[n] for n in net.inputs if n != "mask"}))
            counts = upsampler.frame_counts(tensors)
            frames = torch.repeat_interleave(tensors[upsampler.encoding], counts, dim=0)
            out, total, ctx, net = [], frames.shape[0], decoder.context_frames, decoder.network
            for start, length in window_schedule(decoder, total):
                lo, hi = max(0, start - ctx), min(total, start + length + ctx)
                mel = call(net, {decoder.input_name: frames[lo:hi]})[net.outputs[0]]
                out.append(mel[start - lo : start - lo + length])
            return torch.cat(out)

    return by_hand


def window_schedule(decoder: Any, total: int) -> list[tuple[int, int]]:
    """(start, length) of each window a decoder takes over ``total`` frames, read from its own settings."""
    whole = iter([ttsint.Chunk(torch.zeros(total, 1), 0)])
    windows = ttsint.context_windows(whole, decoder.chunk_frames, 0, decoder.first_chunk_frames,
                                     getattr(decoder, "chunk_growth", None))
    return [(w.start, w.length) for w in windows]


def streaming(bench: Bench, item: Item) -> None:
    """Streaming the acoustic model against computing the whole utterance at once (same networks)."""
    pipeline, upsampler, decoder = bench.acoustic_parts()
    utt = bench.voice.encode(bench.sample)

    encoders = ttsint.find(pipeline, ttsint.SequenceBlock).block

    def whole() -> torch.Tensor:
        encoded = encoders.forward(utt)
        frames = ttsint.concat_chunks(upsampler.stream(encoded, None))
        return decoder.network.run({decoder.input_name: frames})[decoder.network.outputs[0]]

    times = interleaved_seconds(
        {
            "whole": whole,
            "first": lambda: _first_chunk_seconds(lambda: pipeline.stream(utt, None)),
            "stream": lambda: ttsint.concat_chunks(pipeline.stream(utt, None)),
        },
        bench.repeats * 2,
    )
    with torch_threads(1):  # CPU time of the one thread: barely disturbed by other jobs on the machine
        cpu = interleaved_seconds(
            {"whole": whole, "stream": lambda: ttsint.concat_chunks(pipeline.stream(utt, None))},
            bench.repeats * 2,
            clock=time.thread_time,
        )
    frames = whole().shape[0]
    item.add(
        "streamed, all chunks",
        times["stream"],
        "s",
        "whole utterance at once",
        times["whole"],
        "<= 1.15",
        frames=frames,
    )
    item.add(
        "streamed, all chunks, CPU time at 1 thread",
        cpu["stream"],
        "s",
        "whole utterance at once (CPU time)",
        cpu["whole"],
        "<= 1.15",
        frames=frames,
    )
    item.add(
        "streamed, first chunk", times["first"], "s", "whole utterance at once", times["whole"], frames=frames
    )
    item.notes.append(
        f"{frames} mel frames ({frames * bench.hop / bench.rate:.1f} s of audio); decoder "
        f"{decoder.describe()}"
    )


def vocoder(bench: Bench, item: Item) -> None:
    """The addon's vocoder against Griffin-Lim 64: end to end, alone, and in copy-synthesis quality."""
    voice = bench.voice
    default = voice.block.stack[-1] if isinstance(voice.block, ttsint.StreamableStack) else None
    if not isinstance(default, Vocoder):
        item.skipped = f"addon {bench.addon!r} does not end in a ttsint-dsp vocoder"
        return
    index = len(voice.block.stack) - 1
    baseline = ttsint.Voice.load(bench.addon, {f"stack.{index}": GRIFFIN_LIM_64})
    gl = baseline.block.stack[-1]
    name = default.type_name
    text = bench.sample
    audio = bench.audio_seconds(voice.synthesize(text), "waveform")
    times = interleaved_seconds(
        {"gl": lambda: baseline.synthesize(text), "new": lambda: voice.synthesize(text)}, bench.repeats
    )
    item.add(
        f"end to end RTF, {name}",
        times["new"].scaled(1 / audio),
        "RTF",
        "Griffin-Lim 64 end to end",
        times["gl"].scaled(1 / audio),
        "<= 0.25",
    )
    mel = ttsint.concat_chunks(bench.mel_block().stream(voice.encode(text), None))
    times = interleaved_seconds(
        {"gl": lambda: gl.vocode(mel), "new": lambda: default.vocode(mel)}, bench.repeats
    )
    item.add(
        f"vocoder alone, {name}",
        times["new"].scaled(1 / audio),
        "RTF",
        "Griffin-Lim 64 alone",
        times["gl"].scaled(1 / audio),
    )
    try:
        from pesq import pesq
        from pystoi import stoi
    except ImportError:
        for metric in ("PESQ-wb", "STOI"):
            item.skip(f"copy synthesis {metric}, {name}", "pesq and pystoi are not installed", QUALITY)
        return
    if not PEERS["flite"].available():
        for metric in ("PESQ-wb", "STOI"):
            item.skip(f"copy synthesis {metric}, {name}", "it vocodes Flite recordings and flite is not "
                      "installed", PEERS["flite"].package)
        return
    spec = MelSpec.from_config(voice.addon.config)
    scores: dict[str, list[list[float]]] = {"gl": [[], []], "new": [[], []]}
    sentences = everyday_sentences(3 if bench.quick else 20)
    for sentence in sentences:
        ref = PEERS["flite"].speak(sentence)
        wave = torch.from_numpy(ref.samples)
        target = log_mel(wave, spec)
        for key, block in (("gl", gl), ("new", default)):
            out = block.vocode(target)[: wave.shape[0], 0].double().numpy()
            scores[key][0].append(pesq(spec.sample_rate, ref.samples.astype(np.float64), out, "wb"))
            scores[key][1].append(stoi(ref.samples.astype(np.float64), out, spec.sample_rate, extended=False))
    for i, metric in enumerate(("PESQ-wb", "STOI")):
        item.add(
            f"copy synthesis {metric}, {name}",
            statistics.mean(scores["new"][i]),
            metric,
            f"Griffin-Lim 64 {metric}",
            statistics.mean(scores["gl"][i]),
            ">= 1.0",
            repeats=[n / g for n, g in zip(scores["new"][i], scores["gl"][i], strict=True) if g],
            sentences=len(sentences),
        )
    item.notes.append(
        f"copy synthesis: {len(sentences)} everyday sentences spoken by flite -voice rms, "
        "turned into the addon's log-mel and vocoded back"
    )


def encoders(bench: Bench, item: Item) -> None:
    """CustomizedEncoders (independent encoders in parallel threads) against Encoders, at 1 and 2 threads."""
    pipeline, _, _ = bench.acoustic_parts()
    levels = ttsint.network_levels(bench.voice.addon.networks_with_role("encoder"))
    if max(len(level) for level in levels) < 2:
        item.skipped = f"addon {bench.addon!r} has no two independent encoders"
        return
    custom = ttsint.Voice.load(bench.addon, {"stack.0.sequence_block.type": "CustomizedEncoders"})
    utt = bench.voice.encode(bench.sample)
    seq, par = (ttsint.find(b, ttsint.SequenceBlock).block for b in (pipeline, custom.block))
    for threads in (1, 2):
        with torch_threads(threads):
            times = interleaved_seconds(
                {"enc": lambda: seq.forward(utt), "par": lambda: par.forward(utt)}, bench.repeats * 3
            )
        item.add(
            f"CustomizedEncoders, {threads} torch thread(s)",
            times["par"],
            "s",
            f"Encoders, {threads} torch thread(s)",
            times["enc"],
            threads=threads,
        )
    item.notes.append(
        f"{len(utt['symbols'])} symbols; {os.cpu_count()} cores; parallel encoders pay only "
        "when torch's own threads leave cores idle (1 intra-op thread, many cores, accelerators)"
    )


def neuron(bench: Bench, item: Item) -> None:
    """NeuronEncoders and NeuronDecoder on the cpu-static backend over texts of mixed lengths."""
    if bench.quick:
        item.skipped = "not in --quick: compiling every bucket takes minutes"
        return
    if "NeuronEncoders" not in {r.name for r in ttsint.get_registry().iter_blocks()}:
        item.skipped = "ttsint-inferentia is not installed"
        return
    import tempfile

    sentences = everyday_sentences()
    corpus = sentences[:12] + [" ".join(sentences[i : i + 3]) for i in range(12, 24, 3)]
    with tempfile.TemporaryDirectory() as cache:
        runtime = {"type": "cpu-static", "cache_dir": cache}  # a fresh cache: every compile is counted
        overrides = {
            # Buckets 1.5x apart, not the default's 2x: padding waste is about a quarter of a step on average.
            "stack.0.sequence_block": {"type": "NeuronEncoders", "runtime": runtime,
                                       "buckets": [32, 48, 64, 96, 128, 192, 256]},
            # The decoder's whole spec: a fixed window cannot take the addon's growing chunk schedule.
            "stack.0.streamable_block.stack.1": {"type": "NeuronDecoder", "runtime": runtime},
        }
        static = ttsint.Voice.load(bench.addon, overrides)
        static_mel, dynamic_mel = mel_input(static.block) or static.block, bench.mel_block()
        utts = [bench.voice.encode(t) for t in corpus]

        def run(block: ttsint.StreamableBlock) -> None:
            for utt in utts:
                ttsint.concat_chunks(block.stream(utt, None))

        run(static_mel)  # warm-up: every bucket the corpus needs is compiled here
        warm_compiles = _compiles(static_mel)
        times = interleaved_seconds(
            {"dynamic": lambda: run(dynamic_mel), "static": lambda: run(static_mel)}, 2, warmup=0
        )
        after = _reports(static_mel)
    enc = next(r for r in after.values() if r["type"] == "NeuronEncoders")
    dec = next(r for r in after.values() if r["type"] == "NeuronDecoder")
    block = next(b for b in _blocks(static_mel) if b.type_name == "NeuronEncoders")
    used = set()
    for utt in utts:
        n = int(utt["symbols"].shape[0])
        for span in ttsint.split_spans(
            n, block.buckets[-1], block.context, block.word_starts(utt["symbols"])
        ):
            used.add(ttsint.next_bucket(span.length, block.buckets))
    expected = len(used) * len(block.networks) + 1  # each encoder network per bucket, one decoder window
    compiles = warm_compiles
    recompiles = _compiles(static_mel) - compiles
    item.add(
        "time over the corpus, cpu-static",
        times["static"],
        "s",
        "dynamic shapes (Encoders, Decoder)",
        times["dynamic"],
    )
    item.add(
        "padding waste, NeuronEncoders",
        enc["padding_waste"],
        "padded/computed",
        "target 0.20",
        0.20,
        "<= 1.0",
    )
    item.add(
        "padding waste, NeuronDecoder", dec["padding_waste"], "padded/computed", "target 0.20", 0.20, "<= 1.0"
    )
    item.add(
        "compiles in warm-up",
        compiles,
        "compiles",
        "networks x buckets used + decoder window",
        expected,
        "<= 1.0",
    )
    item.add(
        "recompiles after warm-up", recompiles, "compiles", "compiles in warm-up", max(1, compiles), "<= 0.0"
    )
    item.notes.append(
        f"{len(corpus)} texts, buckets used {sorted(used)}; reports: "
        + "; ".join(f"{k}: {v}" for k, v in after.items())
    )


def _reports(block: ttsint.Block) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for node in ttsint.walk(block, "stack"):
        report = node.block.report()
        if report:
            found[node.path] = {"type": node.block.type_name, **report}
    return found


def _compiles(block: ttsint.Block) -> int:
    """Programs the fixed-shape runtimes have compiled so far for the networks under ``block``."""
    total = 0
    for b in _blocks(block):
        for net in list(getattr(b, "networks", [])) + [getattr(b, "network", None)]:
            if net is not None and net.executable is not None:
                total += int(net.executable.stats.snapshot().get("compiles", 0))
    return total


def _blocks(block: ttsint.Block) -> Iterator[ttsint.Block]:
    return (node.block for node in ttsint.walk(block))


def memory(bench: Bench, item: Item) -> None:
    """Peak RSS of `ttsint synth` writing a long text's WAV against a short one's, and the stream's pacing."""
    short, long = _words_for(bench, 10.0), _words_for(bench, 60.0 if bench.quick else 600.0)
    rss = {}
    for label, text in (("short", short), ("long", long)):
        try:
            rss[label] = _peak_rss_of_synth(bench.addon, text)
        except RuntimeError as exc:
            item.notes.append(f"{label} text ({len(words(text))} words): {exc}")
    if "short" in rss and "long" in rss:
        (rss_long, audio_long), (rss_short, audio_short) = rss["long"], rss["short"]
        item.add(
            f"peak RSS, {audio_long:.0f} s of audio",
            rss_long,
            "MB",
            f"peak RSS, {audio_short:.0f} s of audio",
            rss_short,
            "<= 1.2",
        )
    # Pacing: gaps between chunks of one stream, against the audio each chunk carries.
    text = bench.sample
    arrivals, sizes = [], []
    start = time.perf_counter()
    for chunk in bench.voice.stream(text):
        arrivals.append(time.perf_counter() - start)
        sizes.append(len(chunk))
    total = arrivals[-1]
    audio = (
        sum(sizes) / bench.rate
        if bench.voice.output_kind == "waveform"
        else sum(sizes) * bench.hop / bench.rate
    )
    gaps = np.diff(arrivals) if len(arrivals) > 1 else np.array([0.0])
    median_chunk = statistics.median(sizes) / bench.rate if bench.voice.output_kind == "waveform" else 0.0
    item.add(
        "gap between chunks, p50",
        float(np.percentile(gaps, 50)) * 1e3,
        "ms",
        "audio in the median chunk",
        median_chunk * 1e3,
        "<= 1.0",
        chunks=len(sizes),
    )
    item.add(
        "gap between chunks, p95",
        float(np.percentile(gaps, 95)) * 1e3,
        "ms",
        "audio in the median chunk",
        median_chunk * 1e3,
        "<= 1.0",
        chunks=len(sizes),
    )
    item.add("real-time factor", total / audio, "RTF", "real time", 1.0, "<= 1.0")


def _words_for(bench: Bench, seconds: float) -> str:
    """Everyday sentences, in turn, adding up to about ``seconds`` of en-rms speech (2.6 words a second)."""
    sentences, picked, count, i = everyday_sentences(), [], 0, 0
    while count < seconds * 2.6:
        picked.append(sentences[i % len(sentences)])
        count += len(words(picked[-1]))
        i += 1
    return " ".join(picked)


def _peak_rss_of_synth(addon: str, text: str) -> tuple[float, float]:
    """(peak RSS in MB, seconds of audio) of one `ttsint synth - -o x.wav` process."""
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        argv = [
            sys.executable,
            "-m",
            "ttsint",
            "synth",
            "-",
            "--addon",
            addon,
            "-o",
            f"{tmp}/x.wav",
            "--json",
        ]
        Path(tmp, "text").write_text(text)
        with (
            open(f"{tmp}/text") as stdin,
            open(f"{tmp}/out", "w") as stdout,
            open(f"{tmp}/err", "w") as stderr,
        ):
            proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr)
            # wait4 gives this child's own peak RSS (getrusage(RUSAGE_CHILDREN) would mix all children).
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            last = (Path(tmp, "err").read_text().strip().splitlines() or [""])[-1]
            raise RuntimeError(f"ttsint synth exited {proc.returncode}: {last[:160]}")
        report = json.loads(Path(tmp, "out").read_text())
    return usage.ru_maxrss / 1024, report["audio_seconds"]


def peers(bench: Bench, item: Item) -> None:
    """Real-time factor, time to first audio and word error rate of ttsint beside Flite and eSpeak NG."""
    voice = bench.voice
    text = bench.sample
    start = time.perf_counter()
    first = None
    chunks = []
    for chunk in voice.stream(text):
        first = first if first is not None else time.perf_counter() - start
        chunks.append(chunk)
    total = time.perf_counter() - start
    audio = bench.audio_seconds(ttsint.concat_chunks(chunks), voice.output_kind)
    item.add("ttsint RTF", total / audio, "RTF", "ttsint RTF", total / audio)
    item.add("ttsint first audio", first or 0.0, "s", "ttsint first audio", first or 0.0)
    available = [p for p in PEERS.values() if p.available()]
    for peer in PEERS.values():
        if peer not in available:
            for figure in ("RTF", "first audio", "WER"):
                item.skip(f"{peer.name} {figure}", f"{peer.program} is not installed", peer.package)
    for peer in available:
        spoken = peer.speak(text)
        item.add(
            f"{peer.name} RTF", spoken.seconds / spoken.audio_seconds, "RTF", "ttsint RTF", total / audio
        )
        item.add(
            f"{peer.name} first audio (= total)", spoken.seconds, "s", "ttsint first audio", first or 0.0
        )
    try:
        asr = Transcriber()
    except ImportError:
        for name in ["ttsint", *(p.name for p in available)]:
            item.skip(f"WER {name}", "pocketsphinx (the offline recogniser) is not installed", QUALITY)
        return
    sentences = everyday_sentences(4 if bench.quick else None)
    errors = {"ttsint": 0, **{p.name: 0 for p in available}}
    n_words = 0
    for sentence in sentences:
        ref = words(sentence)
        n_words += len(ref)
        errors["ttsint"] += edit_distance(ref, asr(ttsint.to_numpy(voice.synthesize(sentence)), bench.rate))
        for peer in available:
            spoken = peer.speak(sentence)
            errors[peer.name] += edit_distance(ref, asr(spoken.samples, spoken.rate))
    # Against the voice en-rms learned from when it is there (issue 6: at most 1.5 times its WER).
    base_name = "flite" if "flite" in errors else "ttsint"
    base = errors[base_name] / n_words
    for name, count in errors.items():
        target = "<= 1.5" if name == "ttsint" and base_name != "ttsint" else None
        item.add(f"WER {name}", count / n_words, "WER", f"WER {base_name}", max(base, 1e-9), target,
                 sentences=len(sentences), words=n_words)
    item.notes.append(
        f"WER on {len(sentences)} everyday sentences ({n_words} words), pocketsphinx en-us; "
        "en-rms's target is <= 0.054 absolute"
    )


ITEMS: dict[str, tuple[str, Callable[[Bench, Item], None]]] = {
    "ttfa": ("Time to first audio against text length", ttfa),
    "overhead": ("Framework overhead: the stack against a hand-written loop", overhead),
    "streaming": ("Streaming against whole-utterance compute", streaming),
    "vocoder": ("The vocoder against Griffin-Lim 64", vocoder),
    "encoders": ("CustomizedEncoders against Encoders", encoders),
    "neuron": ("NeuronEncoders and NeuronDecoder (cpu-static)", neuron),
    "memory": ("Memory and pacing", memory),
    "peers": ("Peers on the same texts and machine", peers),
}


def run_suite(
    addon: str | None = None,
    quick: bool = False,
    only: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the items (all, or ``only``) and return the JSON document: machine, then each item's figures."""
    unknown = [name for name in only or [] if name not in ITEMS]
    if unknown:
        raise ttsint.TTSIntError(
            f"no bench item {', '.join(map(repr, unknown))}; the items are {', '.join(ITEMS)}"
        )
    bench = Bench(addon or ttsint.default_addon(), quick)
    started = time.perf_counter()
    items = []
    for key, (title, measure) in ITEMS.items():
        if only and key not in only:
            continue
        item = Item(key, title)
        if progress:
            progress(f"{key}: {title}")
        begin = time.perf_counter()
        try:
            measure(bench, item)
        except ttsint.TTSIntError as exc:
            item.skipped = str(exc)
        item.seconds = time.perf_counter() - begin
        items.append(item)
    return {
        "schema": SCHEMA,
        "addon": bench.addon,
        "quick": quick,
        "machine": machine_info(),
        "seconds": time.perf_counter() - started,
        "items": [i.to_json() for i in items],
    }
