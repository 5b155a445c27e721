"""Decoder: runs the addon's decoder network on windows of frames with context, streaming exactly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from ttsint import BuildContext, Chunk, Network, StreamableBlock, StreamError, Utterance, context_windows


def check_context(network: Network, context_frames: int | None, ctx_path: str) -> int:
    """The context to use: the declared receptive field by default, never less than it."""
    from ttsint import ConfigError

    rf = network.receptive_field
    if context_frames is None:
        if rf is None:
            raise ConfigError(f"{ctx_path}.context_frames", f"network {network.name!r} declares no "
                              "receptive_field, so the context needed for exact streaming is unknown",
                              "declare receptive_field in the addon's networks table, or set context_frames")
        return rf
    if context_frames < 0:
        raise ConfigError(f"{ctx_path}.context_frames", f"must be >= 0, got {context_frames}")
    if rf is not None and context_frames < rf:
        raise ConfigError(f"{ctx_path}.context_frames", f"{context_frames} is less than network "
                          f"{network.name!r}'s receptive field of {rf}; streamed output would differ from "
                          "the full utterance's", f"use at least {rf}, or leave it out")
    return context_frames


class Decoder(StreamableBlock):
    """Decodes upstream frames in chunks, each with context of at least the receptive field, trimmed after.

    A smaller first chunk lowers the time to the first frame; the output equals full-utterance decoding.
    """

    produces = "mel"
    context_params = ("network",)

    def __init__(self, network: Network, chunk_frames: int = 64, first_chunk_frames: int | None = 16,
                 context_frames: int | None = None) -> None:
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        if first_chunk_frames is not None and first_chunk_frames < 1:
            raise ValueError(f"first_chunk_frames must be >= 1, got {first_chunk_frames}")
        self.network = network
        self.chunk_frames = chunk_frames
        self.first_chunk_frames = first_chunk_frames
        self.context_frames = (network.receptive_field or 0) if context_frames is None else context_frames
        inputs = [n for n in network.inputs if n != "mask"]
        if len(inputs) != 1:
            raise ValueError(f"network {network.name!r} must take one frame input (plus an optional mask), "
                             f"it takes {network.inputs}")
        self.input_name = inputs[0]

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> Decoder:
        params = dict(params)
        network = ctx.network("decoder", params.pop("network", None))
        params["context_frames"] = check_context(network, params.get("context_frames"), ctx.path)
        return cls(network=network, **params)

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is None:
            raise StreamError(f"{self.type_name} decodes upstream frames; "
                              "put a block such as Upsampler before it")
        windows = context_windows(upstream, self.chunk_frames, self.context_frames, self.first_chunk_frames)
        for window in windows:
            out = self.network.run({self.input_name: window.frames})[self.network.outputs[0]]
            yield Chunk(frames=window.trim(out), start=window.start)

    def decode_all(self, frames: torch.Tensor) -> torch.Tensor:
        """Decode a whole utterance at once: the reference that streaming must equal."""
        return self.network.run({self.input_name: frames})[self.network.outputs[0]]

    def describe(self) -> str:
        return (f"{self.type_name} ({self.network.name}, chunk_frames={self.chunk_frames}, "
                f"first_chunk_frames={self.first_chunk_frames}, context_frames={self.context_frames})")
