"""Synthesis with timing: the engine behind ``ttsint synth``, also usable from Python."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ._addon import default_addon
from ._arrays import concat, to_numpy
from ._audio import NpyWriter, WavWriter
from ._blocks import Block, walk
from ._errors import ConfigError, PluginError, TTSIntError
from ._registry import get_registry
from ._speech import SpeechStream, word_timings
from ._tap import tap
from ._voice import Voice

__all__ = ["synthesize_to", "timed_stream", "block_reports", "StreamTimer"]


class StreamTimer:
    """Times a SpeechStream as it is consumed: first chunk, gaps between chunks and at segment boundaries."""

    def __init__(self) -> None:
        self.begin = time.perf_counter()
        self.first: float | None = None
        self.chunk_gaps: list[float] = []
        self.boundary_gaps: list[float] = []
        self._last: float | None = None
        self._segment: int | None = None

    def tick(self, segment: int | None) -> None:
        """Record a chunk of ``segment`` (None for a pause, which does not count as a chunk)."""
        now = time.perf_counter()
        if segment is None:
            return
        if self.first is None:
            self.first = now - self.begin
        elif self._last is not None:
            (self.chunk_gaps if segment == self._segment else self.boundary_gaps).append(now - self._last)
        self._last, self._segment = now, segment

    def report(self) -> dict[str, Any]:
        gaps = sorted(self.chunk_gaps)
        return {
            "first_chunk_ms": 1000 * (self.first or 0.0),
            "median_chunk_gap_ms": 1000 * gaps[len(gaps) // 2] if gaps else None,
            "boundary_gaps_ms": [round(1000 * g, 2) for g in self.boundary_gaps],
            "max_boundary_gap_ms": 1000 * max(self.boundary_gaps) if self.boundary_gaps else None,
        }


#: Called after each chunk as ``progress(segments_started, audio_seconds, elapsed_seconds)``.
Progress = Callable[[int, float, float], None]


def timed_stream(voice: Voice, text: str, sink: Callable[[Any], None] | None = None,
                 progress: Progress | None = None) -> tuple[SpeechStream, dict[str, Any]]:
    """Stream ``text`` to ``sink`` chunk by chunk (frames are not kept); returns the stream and its timing.

    ``progress`` hears of every chunk: how many segments have started, the audio made and the time spent.
    """
    timer = StreamTimer()
    frames = chunks = pause_frames = 0
    channels = 0
    with voice.stream(text) as speech:
        for chunk in speech:
            timer.tick(speech.current)
            if speech.current is None:
                pause_frames += len(chunk)
            else:
                chunks += 1
            frames, channels = chunk.end, int(chunk.frames.shape[1])
            if sink is not None:
                sink(chunk.frames)
            if progress is not None:
                progress(len(speech.segments), frames * voice.frame_seconds,
                         time.perf_counter() - timer.begin)
    total = time.perf_counter() - timer.begin
    if frames == 0:
        raise TTSIntError(f"the stack produced no frames for {text[:60]!r}")
    a = voice.addon
    seconds = frames * voice.frame_seconds
    speech_seconds = (frames - pause_frames) * voice.frame_seconds
    report: dict[str, Any] = {
        "addon": a.name,
        "output_kind": voice.output_kind,
        "sample_rate": a.sample_rate,
        "hop_length": a.hop_length,
        "frames": frames,
        "channels": channels,
        "chunks": chunks,
        "segments": len(speech.segments),
        "total_ms": 1000 * total,
        "audio_seconds": seconds,
        "speech_seconds": speech_seconds,
        "rtf": total / seconds if seconds > 0 else float("inf"),
        **timer.report(),
    }
    blocks = block_reports(voice.block)
    if blocks:
        report["blocks"] = blocks
    networks = voice.network_reports()
    if networks:
        report["networks"] = networks
    return speech, report


def block_reports(block: Block, label: str = "stack") -> dict[str, dict[str, Any]]:
    """Every non-empty ``Block.report()`` in the tree, keyed by the block's config path."""
    found: dict[str, dict[str, Any]] = {}
    for node in walk(block, label):
        report = node.block.report()
        if report:
            found[node.block.config_path or node.path] = {"type": node.block.type_name, **report}
    return found


def synthesize_to(text: str, addon: str | None = None, overrides: Mapping[str, Any] | None = None,
                  output: str | Path | None = None, timestamps: str | Path | None = None, *,
                  runtime: Any = None, device: str | None = None, plot: str | Path | None = None,
                  output_kind: str | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Synthesize ``text`` with an addon (default: the best installed), writing .npy or .wav as chunks arrive.

    ``timestamps`` names a JSON file for each segment's (and, where durations are known, each
    word's) start and end in seconds. ``plot`` names an image of the mel (the vocoder's input, if
    there is one), tapped from the same run. A failed run leaves no partial output file behind.
    ``runtime`` and ``device`` run every network there. ``output_kind`` ("mel" or "waveform") says
    what to write; "mel" stops the stack at its mel, so a vocoder after it does not run.
    """
    for flag, path in (("-o", output), ("--timestamps", timestamps), ("--plot", plot)):
        if path is not None:
            check_output_path(path, flag)
    begin = time.perf_counter()
    with Voice.load(addon or default_addon(), overrides, runtime=runtime, device=device) as voice:
        load_ms = 1000 * (time.perf_counter() - begin)  # the addon, its networks and the stack, apart
        if output_kind is not None:
            _choose_output(voice, output_kind)
        return {"load_ms": load_ms, **_synthesize(voice, text, output, timestamps, plot, progress)}


def _choose_output(voice: Voice, kind: str) -> None:
    """Make ``voice`` end where its stack makes ``kind`` (the mel before a vocoder), or say why it cannot."""
    from ._verify import compared_block

    if voice.output_kind == kind:
        return
    if kind == "mel":
        block, made = compared_block(voice)
        if made != "mel":
            raise ConfigError("--output-kind", f"no block in this stack says it makes mel frames (it makes "
                              f"{voice.output_kind or 'frames'})", "leave --output-kind out to write what "
                              "the stack makes")
        voice.block = block
        return
    raise ConfigError("--output-kind", f"the stack ends in {_last_block(voice)}, which makes "
                      f"{voice.output_kind or 'frames'}, not a waveform",
                      "add a vocoder after it, e.g. --set stack.1.type=GriffinLim (pip install ttsint-dsp)")


def _synthesize(voice: Voice, text: str, output: str | Path | None, timestamps: str | Path | None,
                plot: str | Path | None, progress: Progress | None = None) -> dict[str, Any]:
    mel: dict[int, list[Any]] = {}
    draw = _plotter(voice, plot, mel) if plot else None
    suffix = Path(output).suffix.lower() if output else None
    if suffix not in (None, ".npy", ".wav"):
        raise ConfigError("-o", f"cannot write {suffix!r} files", "use .npy for frames or .wav for audio")
    if suffix == ".wav" and voice.output_kind != "waveform":
        last = _last_block(voice)
        raise ConfigError("-o", f"the stack ends in {last}, which makes {voice.output_kind or 'frames'}, "
                          "not audio, so there is no WAV to write",
                          "add a vocoder after it, e.g. --set stack.1.type=GriffinLim "
                          "(pip install ttsint-dsp), or write .npy")
    writer: WavWriter | NpyWriter | None = None
    if suffix == ".wav":
        writer = WavWriter(output, voice.addon.sample_rate)  # type: ignore[arg-type]
    elif suffix == ".npy":
        writer = NpyWriter(output)  # type: ignore[arg-type]
    try:
        speech, report = timed_stream(voice, text, writer.write if writer else None, progress)
    except BaseException:
        if writer is not None:
            writer.close()
            writer.path.unlink(missing_ok=True)
        raise
    if writer is not None:
        writer.close()
        report["output"] = str(output)
    if timestamps:
        Path(timestamps).write_text(json.dumps(segment_timestamps(voice, speech), indent=1), encoding="utf-8")
        report["timestamps"] = str(timestamps)
    if draw is not None:
        a = voice.addon
        frames = to_numpy(concat([f for n in sorted(mel) for f in mel[n]])).astype("float32")
        quoted = " ".join(text.split())
        quoted = quoted if len(quoted) <= 50 else quoted[:47] + "..."
        draw(frames, plot, sample_rate=a.sample_rate, hop_length=a.hop_length,
             title=f"{a.name}: \u201c{quoted}\u201d ({frames.shape[0]} frames x {frames.shape[1]} mel bins)")
        report["plot"] = str(plot)
    return report


def _plotter(voice: Voice, path: str | Path, sink: dict[int, list[Any]]) -> Callable[..., Any]:
    """The registered drawing function for ``path``'s suffix, with ``voice.block`` tapped to fill ``sink``.

    Both are checked before synthesis, so a missing plotter or a stack without mel fails at once.
    """
    registry = voice.runtimes.registry or get_registry()
    suffix = Path(path).suffix.lower()
    reg = registry.find(registry.plotters, suffix, what="plot format", path="--plot")
    try:
        draw = reg.load()
    except PluginError as exc:
        raise ConfigError("--plot", str(exc), "reinstall or fix that plugin") from exc
    tapped = tap(voice.block, "mel", lambda stream, chunk: sink.setdefault(stream, []).append(chunk.frames))
    if tapped is None:
        raise ConfigError("--plot", "no block in this stack says it makes mel frames, so there is no mel "
                          "to draw", "write the output with -o out.npy and plot that with ttsint plot")
    voice.block = tapped
    return draw


def check_output_path(path: str | Path, flag: str) -> None:
    """A ConfigError at ``flag`` unless ``path`` names a file that can be created or replaced."""
    text = str(path)
    if not text.strip():
        raise ConfigError(flag, "the output path is empty", f"name a file after {flag}")
    target = Path(text).expanduser()
    parent = target.parent
    if target.is_dir():
        raise ConfigError(flag, f"{text} is a directory", f"name a file inside it, e.g. {target / 'out.wav'}")
    if not parent.exists():
        raise ConfigError(flag, f"the folder {parent} does not exist", "create it first, or write elsewhere")
    if not parent.is_dir():
        raise ConfigError(flag, f"{parent} is not a folder, so {text} cannot be created")
    if not os.access(parent, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise ConfigError(flag, f"no permission to write {text}")


def segment_timestamps(voice: Voice, speech: SpeechStream) -> dict[str, Any]:
    """Each segment's text, start and end in seconds, and its words' times where the stack knows durations."""
    a = voice.addon
    hop = a.hop_length / a.sample_rate
    segments = []
    for info in speech.segments:
        start = info.start * voice.frame_seconds
        entry: dict[str, Any] = {"text": info.text, "start": round(start, 4),
                                 "end": round((info.end or info.start) * voice.frame_seconds, 4)}
        words = word_timings(info, hop, start)
        if words:
            entry["words"] = words
        segments.append(entry)
    return {"addon": a.name, "sample_rate": a.sample_rate, "segments": segments}


def _last_block(voice: Voice) -> str:
    return list(walk(voice.block))[-1].block.type_name
