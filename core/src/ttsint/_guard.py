"""The output guard: a stream that goes wrong fails with a StreamError naming the block; none runs forever.

``Voice`` puts an ``OutputGuard`` at the end of every stack it builds. It checks each chunk (finite,
contiguous, the addon's ``n_mels`` for mel, one channel for a waveform), bounds the frames of an
utterance, checks the total against the durations, and turns an exception escaping a block into a
StreamError naming that block's type, plugin and config path.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

from ._arrays import all_finite, first_nonfinite_row, is_floating
from ._blocks import Block, StreamableBlock, Timing, chunks_for, last_streamable, timed, utterance_for
from ._data import Chunk, Utterance
from ._errors import StreamError, TTSIntError
from ._limits import Limits, check_symbol_frames

__all__ = ["OutputGuard", "blame"]


def blame(exc: BaseException) -> Block | None:
    """The innermost built block (one with a config path) whose code was running when ``exc`` was raised."""
    found = None
    tb: types.TracebackType | None = exc.__traceback__
    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if isinstance(candidate, Block) and candidate.config_path:
            found = candidate
        tb = tb.tb_next
    return found


def _wrap(exc: Exception, fallback: Block) -> StreamError:
    block = blame(exc) or fallback
    origin = f" from {block.provided_by}" if block.provided_by else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return StreamError(f"{block.where} ({block.type_name}{origin}) failed: {type(exc).__name__}"
                       f"{': ' + message[:300] if message else ''}")


class OutputGuard(StreamableBlock):
    """Wraps a built stack and checks what it streams; it adds no frames and keeps no per-stream state."""

    arrays = "any"  # converts for the block it wraps, as a container does

    def __init__(self, block: StreamableBlock, *, n_mels: int | None, hop_length: int,
                 limits: Limits | None = None) -> None:
        self.block = block
        self.n_mels = n_mels
        self.hop_length = hop_length
        self.limits = limits or Limits()
        self.kind_out = block.output_kind(None)
        self.config_path = block.config_path
        self.provided_by = block.provided_by
        self.device = block.device

    def output_kind(self, upstream_kind: str | None = None) -> str | None:
        return self.block.output_kind(upstream_kind)

    def children(self) -> list[tuple[str, Block]]:
        return self.block.children()

    def describe(self) -> str:
        return self.block.describe()

    def report(self) -> dict[str, Any]:
        return self.block.report()

    def close(self) -> None:
        self.block.close()

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        # The durations are checked against the limits as soon as a block decides them, before frames.
        where = self._where()
        timing = Timing(lambda counts: check_symbol_frames(counts, self.limits, where))
        block = self.block
        chunks = timed(block, utterance_for(utt, block), chunks_for(upstream, block), timing)
        return self._checked(chunks, timing)

    def _where(self) -> str:
        leaf = last_streamable(self.block)
        return f"{leaf.where} ({leaf.type_name})"

    def symbol_frames(self, utt: Utterance) -> Any:
        return self.block.symbol_frames(utt)

    def _checked(self, chunks: Iterator[Chunk], timing: Timing) -> Iterator[Chunk]:
        """``chunks`` checked one by one; at their end, their total against the durations ``timing`` heard."""
        leaf = last_streamable(self.block)
        where = f"{leaf.where} ({leaf.type_name})"
        scale = self.hop_length if self.kind_out == "waveform" else 1
        most = self.limits.max_frames_per_utterance * scale
        # What every chunk must have in dimension 1: the addon's mel bins, or one channel of waveform.
        width = {"mel": self.n_mels, "waveform": 1}.get(self.kind_out or "")
        position = 0
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except TTSIntError:
                raise
            except Exception as exc:
                raise _wrap(exc, leaf) from exc
            frames = chunk.frames
            if chunk.start != position:
                raise StreamError(f"{where}: chunk starts at frame {chunk.start}, expected {position} "
                                  "(chunks must be contiguous)")
            if width is not None and frames.shape[1] != width:
                raise self._wrong_width(where, chunk)
            # The sum is finite exactly when every value is, unless finite values overflow it: one
            # reduction a chunk instead of three operations, with the full check only to confirm.
            if is_floating(frames) and not all_finite(frames):
                bad = first_nonfinite_row(frames) + chunk.start
                raise StreamError(f"{where}: produced NaN or infinite values in frames {chunk.start}-"
                                  f"{chunk.end} (first at frame {bad}); nothing was written")
            position = chunk.end
            if position > most:
                raise StreamError(f"{where}: more than {most} frames for one utterance "
                                  f"(max_frames_per_utterance = {self.limits.max_frames_per_utterance}, "
                                  f"{self.limits.source})")
            yield chunk
        expected = int(timing.symbol_frames.sum()) * scale if timing.symbol_frames is not None else None
        if expected is not None and position != expected:
            raise StreamError(f"{where}: made {position} frames, but the durations ask for {expected}; "
                              "a block dropped or added frames")

    def _wrong_width(self, where: str, chunk: Chunk) -> StreamError:
        span = f"frames {chunk.start}-{chunk.end}"
        if self.kind_out == "mel":
            return StreamError(f"{where}: {span} have {chunk.frames.shape[1]} mel bins; the addon declares "
                               f"n_mels = {self.n_mels}")
        return StreamError(f"{where}: {span} have {chunk.frames.shape[1]} channels; a waveform has one")
