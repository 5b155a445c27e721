"""Diagnostic blocks that pass frames through unchanged: ChunkStats, Tap and NaNGuard."""

from __future__ import annotations

import itertools
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ttsint import Chunk, ParameterError, StreamError, Utterance

from .effects import MelEffect

__all__ = ["ChunkStats", "Tap", "NaNGuard", "chunk_stats"]

logger = logging.getLogger("ttsint_dsp.stats")
_stream_numbers = itertools.count(1)  # next() on a count is atomic under the GIL


def chunk_stats(frames: torch.Tensor) -> dict[str, Any]:
    """min, max and mean of the finite values, and how many values are NaN or infinite."""
    nan = int(torch.isnan(frames).sum())
    inf = int(torch.isinf(frames).sum())
    finite = frames[torch.isfinite(frames)]
    if finite.numel() == 0:
        return {"min": None, "max": None, "mean": None, "nan": nan, "inf": inf}
    return {
        "min": float(finite.min()),
        "max": float(finite.max()),
        "mean": float(finite.double().mean()),
        "nan": nan,
        "inf": inf,
    }


class ChunkStats(MelEffect):
    """Logs per-chunk statistics and the latency since the stream began, and/or appends them to JSON lines.

    Each record: stream id, block path, chunk index, start/end frame, min/max/mean, NaN and Inf
    counts, latency_ms. Several streams may share one file; their lines carry different stream ids.
    """

    consumes = "any"  # looks at any frames, mel or waveform

    def __init__(self, path: str | None = None, log: bool = True, level: str = "INFO") -> None:
        if not isinstance(logging.getLevelName(level.upper()), int):
            raise ParameterError("level", f"unknown log level {level!r}", "use DEBUG, INFO, WARNING or ERROR")
        self.path = Path(path) if path else None
        self.log = bool(log)
        self.level = logging.getLevelName(level.upper())

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        upstream = self._upstream(upstream)
        began = time.perf_counter()
        stream_id = uuid.uuid4().hex[:8]
        where = getattr(self, "config_path", self.type_name)
        out = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            out = self.path.open("a", encoding="utf-8")
        try:
            for index, chunk in enumerate(upstream):
                record = {
                    "stream": stream_id,
                    "block": where,
                    "chunk": index,
                    "start": chunk.start,
                    "end": chunk.end,
                    "frames": len(chunk),
                    **chunk_stats(chunk.frames),
                    "latency_ms": round(1000 * (time.perf_counter() - began), 3),
                }
                if out is not None:
                    out.write(json.dumps(record) + "\n")
                    out.flush()
                if self.log:
                    logger.log(
                        self.level,
                        "%s chunk %d frames %d-%d: min=%s max=%s mean=%s nan=%d inf=%d latency=%.1f ms",
                        where,
                        index,
                        chunk.start,
                        chunk.end,
                        record["min"],
                        record["max"],
                        record["mean"],
                        record["nan"],
                        record["inf"],
                        record["latency_ms"],
                    )
                yield chunk
        finally:
            if out is not None:
                out.close()

    def describe(self) -> str:
        return f"{self.type_name} ({self.path or 'log'})"


class Tap(MelEffect):
    """Writes every chunk to .npy in ``directory``, frames passing through unchanged.

    Each stream gets its own id, so concurrent streams never share a file: chunks go to
    ``{prefix}-{stream}-{start:06d}-{end:06d}.npy`` (frame range, end exclusive) and, with ``concat``,
    the whole stream to ``{prefix}-{stream}.npy`` when it ends. ``stream`` is a counter in this
    process followed by a random part, so files from one run sort in the order their streams began.
    """

    consumes = "any"  # looks at any frames, mel or waveform

    def __init__(self, directory: str, prefix: str = "chunk", concat: bool = True) -> None:
        if not prefix or "/" in prefix:
            raise ParameterError("prefix", f"must be a plain file name part, got {prefix!r}")
        self.directory = Path(directory)
        self.prefix = prefix
        self.concat = bool(concat)

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        upstream = self._upstream(upstream)
        name = f"{self.prefix}-{next(_stream_numbers):04d}-{uuid.uuid4().hex[:6]}"
        self.directory.mkdir(parents=True, exist_ok=True)
        seen: list[np.ndarray] = []
        for chunk in upstream:
            data = chunk.frames.detach().cpu().numpy()
            np.save(self.directory / f"{name}-{chunk.start:06d}-{chunk.end:06d}.npy", data)
            if self.concat:
                seen.append(data)
            yield chunk
        if self.concat and seen:
            np.save(self.directory / f"{name}.npy", np.concatenate(seen))

    def describe(self) -> str:
        return f"{self.type_name} ({self.directory}/{self.prefix}-*.npy)"


class NaNGuard(MelEffect):
    """Stops the stream with a StreamError naming its config path and the frames with NaN (or Inf)."""

    consumes = "any"  # looks at any frames, mel or waveform

    def __init__(self, inf: bool = True) -> None:
        self.inf = bool(inf)

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        for index, chunk in enumerate(self._upstream(upstream)):
            bad = torch.isnan(chunk.frames) | (torch.isinf(chunk.frames) if self.inf else False)
            if bool(bad.any()):
                rows = torch.nonzero(bad.any(dim=1)).flatten()
                first, last = chunk.start + int(rows[0]), chunk.start + int(rows[-1])
                nan = int(torch.isnan(chunk.frames).sum())
                inf = int(torch.isinf(chunk.frames).sum())
                where = getattr(self, "config_path", self.type_name)
                found = f"{nan} NaN" + (f" and {inf} Inf" if self.inf else "")
                raise StreamError(
                    f"{where} ({self.type_name}): {found} value(s) in frames {first}-{last} "
                    f"(chunk {index}, frames {chunk.start}-{chunk.end - 1}); the block before {where} "
                    "produced them"
                )
            yield chunk

    def describe(self) -> str:
        return f"{self.type_name} (NaN{' and Inf' if self.inf else ''})"
