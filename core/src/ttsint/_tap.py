"""Taps: see the frames of one kind (e.g. the mel before a vocoder) while the stack streams, in the same run.

``synth --plot`` uses one to draw the mel of the audio it is writing, without synthesizing twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from ._blocks import StreamableBlock, StreamablePipeline, StreamableStack, chunks_for, utterance_for
from ._data import Chunk, Utterance

__all__ = ["Sink", "Tee", "tap"]


Sink = Callable[[int, Chunk], Any]
"""Called as ``sink(stream, chunk)``: ``stream`` numbers the utterances in the order their streams began,
since a look-ahead thread may start the next sentence's chunks before this one's end."""


class Tee(StreamableBlock):
    """Streams ``block`` unchanged, handing each chunk to ``sink`` on its way through."""

    arrays = "any"  # what flows in is converted for ``block`` here, as its container would have

    def __init__(self, block: StreamableBlock, sink: Sink) -> None:
        self.block = block
        self.sink = sink
        self.config_path = block.config_path
        self._streams = itertools.count()

    def _pass(self, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        number = next(self._streams)
        for chunk in chunks:
            self.sink(number, chunk)
            yield chunk

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        return self._pass(self.block.stream(utterance_for(utt, self.block), chunks_for(upstream, self.block)))

    def output_kind(self, upstream_kind: str | None = None) -> str | None:
        return self.block.output_kind(upstream_kind)

    def children(self) -> list[tuple[str, Any]]:
        return [("tapped", self.block)]


def tap(block: StreamableBlock, kind: str, sink: Sink,
        upstream_kind: str | None = None) -> StreamableBlock | None:
    """A tree that streams like ``block`` and hands ``sink`` the last frames of ``kind`` that flow in it.

    Built blocks keep no per-utterance state, so the new tree shares them; None when no ``kind`` flows.
    """
    if block.output_kind(upstream_kind) == kind:
        return Tee(block, sink)
    if isinstance(block, StreamableStack):
        kinds = [upstream_kind]
        for child in block.stack:
            kinds.append(child.output_kind(kinds[-1]))
        for i in range(len(block.stack) - 1, -1, -1):
            inner = tap(block.stack[i], kind, sink, kinds[i])
            if inner is not None:
                tapped = StreamableStack([*block.stack[:i], inner, *block.stack[i + 1:]])
                tapped.config_path = block.config_path
                return tapped
    if isinstance(block, StreamablePipeline):
        inner = tap(block.streamable_block, kind, sink, upstream_kind)
        if inner is not None:
            tapped_pipeline = StreamablePipeline(block.sequence_block, inner)
            tapped_pipeline.config_path = block.config_path
            return tapped_pipeline
    return None
