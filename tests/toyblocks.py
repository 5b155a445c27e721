"""Small third-party-style blocks for the tiny test addon.

The suite uses this module twice: in-process as a pluggy plugin (its hook implementations register
the classes), and copied into the throwaway plugin distribution that is pip-installed into a
temporary venv, where a separate plugin module registers the same classes as lazy targets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from ttsint import (
    BuildContext,
    Chunk,
    Network,
    ParameterError,
    SequenceBlock,
    StreamableBlock,
    StreamError,
    Utterance,
    context_windows,
    hookimpl,
)


class ToyEncoder(SequenceBlock):
    """Runs the addon's encoder networks on the utterance's symbols."""

    context_params = ("networks",)

    def __init__(self, networks: list[Network], role: str = "encoder") -> None:
        self.networks = networks
        self.role = role

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> ToyEncoder:
        if ctx.addon is None:
            raise ctx.error("ToyEncoder runs an addon's networks; build it with an addon")
        role = params.get("role", "encoder")
        networks = ctx.addon.networks_with_role(role)
        if not networks:
            raise ctx.error(f"the addon has no network with role {role!r}", key="role")
        return cls([ctx.bind(n) for n in networks], role)

    def forward(self, utt: Utterance) -> Utterance:
        out: Utterance = {}
        for network in self.networks:
            out.update(network.run({**utt, **out}))
        return out


class ToyEmbed(SequenceBlock):
    """A network-free encoder: each symbol id becomes a fixed [dim] vector."""

    def __init__(self, dim: int = 4) -> None:
        self.dim = dim

    def forward(self, utt: Utterance) -> Utterance:
        ids = utt["symbols"].to(torch.float32)
        scale = torch.arange(1, self.dim + 1, dtype=torch.float32) / 10
        return {"text_encoding": ids[:, None] * scale[None, :]}


class ToyUpsample(StreamableBlock):
    """Repeats each text_encoding row ``repeat`` times and yields ``chunk_frames`` frames at a time."""

    def __init__(self, repeat: int = 2, chunk_frames: int = 4) -> None:
        if repeat < 1 or chunk_frames < 1:
            raise ParameterError("repeat" if repeat < 1 else "chunk_frames",
                                 f"must be >= 1, got {repeat} and {chunk_frames}")
        self.repeat = repeat
        self.chunk_frames = chunk_frames

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        encoding = utt["text_encoding"]
        total = int(encoding.shape[0]) * self.repeat
        for start in range(0, total, self.chunk_frames):
            rows = torch.arange(start, min(start + self.chunk_frames, total)) // self.repeat
            yield Chunk(frames=encoding[rows], start=start)


class ToyDecoder(StreamableBlock):
    """Decodes upstream frames to mel in windows, with context from the decoder's receptive field."""

    produces = "mel"
    context_params = ("network",)

    def __init__(
        self, network: Network, chunk_frames: int = 8, first_chunk_frames: int | None = None
    ) -> None:
        self.network = network
        self.chunk_frames = chunk_frames
        self.first_chunk_frames = first_chunk_frames

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> ToyDecoder:
        if ctx.addon is None or not ctx.addon.networks_with_role("decoder"):
            raise ctx.error("ToyDecoder needs an addon with a 'decoder' network")
        return cls(ctx.bind(ctx.addon.networks_with_role("decoder")[0]), **params)

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is None:
            raise StreamError("ToyDecoder needs upstream frames")
        context = (self.network.receptive_field or 1) // 2
        for window in context_windows(upstream, self.chunk_frames, context, self.first_chunk_frames):
            mel = self.network.run({"frames": window.frames})["mel"]
            yield Chunk(frames=window.trim(mel), start=window.start)


class ToyGain(StreamableBlock):
    """Scales upstream frames by ``gain``."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is None:
            raise StreamError("ToyGain needs upstream frames")
        for chunk in upstream:
            yield Chunk(frames=chunk.frames * self.gain, start=chunk.start)


class ToyVocoder(StreamableBlock):
    """Turns each frame into ``hop`` samples of tanh(mean over channels): a cheap stand-in for a vocoder."""

    consumes = "mel"
    produces = "waveform"

    def __init__(self, hop: int = 2) -> None:
        self.hop = hop

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is None:
            raise StreamError("ToyVocoder needs upstream frames")
        for chunk in upstream:
            samples = torch.tanh(chunk.frames.mean(dim=1)).repeat_interleave(self.hop)[:, None]
            yield Chunk(frames=samples, start=chunk.start * self.hop)


class ToyRatio(SequenceBlock):
    """Scales text_encoding by 1 / divisor, and forgets to check the divisor: a bug the builder must name."""

    def __init__(self, divisor: float = 1.0) -> None:
        self.scale = 1 / divisor

    def forward(self, utt: Utterance) -> Utterance:
        return {"text_encoding": utt["text_encoding"] * self.scale}


BLOCKS = (ToyEncoder, ToyEmbed, ToyUpsample, ToyDecoder, ToyGain, ToyVocoder, ToyRatio)


@hookimpl
def ttsint_register_blocks(register: Callable[[str, Any], None]) -> None:
    for cls in BLOCKS:
        register(cls.__name__, cls)
