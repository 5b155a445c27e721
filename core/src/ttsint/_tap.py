"""Taps: see the frames of one kind (e.g. the mel before a vocoder) while the stack streams, in the same run.

``synth --plot`` uses one to draw the mel of the audio it is writing, without synthesizing twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from ._blocks import StreamableBlock, chunks_for, last_of_kind, replace, utterance_for
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
        return [("block", self.block)]  # the label names the attribute, as replace() needs


def tap(block: StreamableBlock, kind: str, sink: Sink,
        upstream_kind: str | None = None) -> StreamableBlock | None:
    """A tree that streams like ``block`` and hands ``sink`` the last frames of ``kind`` that flow in it.

    Built blocks keep no per-utterance state, so the new tree shares them; None when no ``kind`` flows.
    """
    node = last_of_kind(block, kind, upstream_kind)
    if node is None:
        return None
    tapped = replace(block, node.path, Tee(node.block, sink))  # type: ignore[arg-type]
    assert isinstance(tapped, StreamableBlock)
    return tapped
