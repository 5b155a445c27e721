"""Synthesis with timing: the engine behind ``ttsint synth``, also usable from Python."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .addon import default_addon
from .audio import write_wav
from .blocks import Block, Chunk
from .errors import ConfigError, TTSIntError
from .voice import Voice

__all__ = ["synthesize_to", "timed_stream", "block_reports"]


def timed_stream(voice: Voice, text: str) -> tuple[torch.Tensor, dict[str, Any]]:
    """Run one utterance, returning its frames and the timing of the stream."""
    begin = time.perf_counter()
    first: float | None = None
    chunks: list[Chunk] = []
    for chunk in voice.stream(text):
        if first is None:
            first = time.perf_counter() - begin
        chunks.append(chunk)
    total = time.perf_counter() - begin
    if not chunks:
        raise TTSIntError(f"the stack produced no frames for {text[:60]!r}")
    frames = torch.cat([c.frames for c in chunks])
    kind = voice.output_kind
    a = voice.addon
    samples = frames.shape[0] if kind == "waveform" else frames.shape[0] * a.hop_length
    seconds = samples / a.sample_rate
    report: dict[str, Any] = {
        "addon": a.name,
        "output_kind": kind,
        "frames": int(frames.shape[0]),
        "channels": int(frames.shape[1]),
        "chunks": len(chunks),
        "first_chunk_ms": 1000 * (first or 0.0),
        "total_ms": 1000 * total,
        "audio_seconds": seconds,
        "rtf": total / seconds if seconds > 0 else float("inf"),
    }
    blocks = block_reports(voice.block)
    if blocks:
        report["blocks"] = blocks
    return frames, report


def block_reports(block: Block, label: str = "stack") -> dict[str, dict[str, Any]]:
    """Every non-empty ``Block.report()`` in the tree, keyed by the block's config path."""
    found: dict[str, dict[str, Any]] = {}
    report = block.report()
    if report:
        found[getattr(block, "config_path", label)] = {"type": block.type_name, **report}
    for child_label, child in block.children():
        found.update(block_reports(child, f"{label}.{child_label}"))
    return found


def synthesize_to(text: str, addon: str | None = None, overrides: Mapping[str, Any] | None = None,
                  output: str | Path | None = None) -> dict[str, Any]:
    """Synthesize ``text`` with an addon (default: the best installed) and write .npy or .wav if asked."""
    voice = Voice.load(addon or default_addon(), overrides)
    suffix = Path(output).suffix.lower() if output else None
    if suffix not in (None, ".npy", ".wav"):
        raise ConfigError("-o", f"cannot write {suffix!r} files", "use .npy for frames or .wav for audio")
    if suffix == ".wav" and voice.output_kind != "waveform":
        last = _last_block(voice)
        raise ConfigError("-o", f"the stack ends in {last}, which makes {voice.output_kind or 'frames'}, "
                          "not audio, so there is no WAV to write",
                          "add a vocoder after it, e.g. --set stack.1.type=GriffinLim "
                          "(pip install ttsint-dsp), or write .npy")
    frames, report = timed_stream(voice, text)
    if suffix == ".npy":
        np.save(output, frames.detach().cpu().numpy().astype(np.float32))
    elif suffix == ".wav":
        write_wav(output, frames, voice.addon.sample_rate)
    if output:
        report["output"] = str(output)
    return report


def _last_block(voice: Voice) -> str:
    block = voice.block
    while True:
        kids = block.children()
        if not kids:
            return block.type_name
        block = kids[-1][1]
