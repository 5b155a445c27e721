"""A Voice is an addon with its stack built: text in, chunks of frames out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from .addon import Addon, load_addon
from .blocks import Chunk, StreamableBlock, Utterance
from .chunking import concat_chunks
from .errors import ConfigError
from .registry import Registry
from .stack import build_stack

__all__ = ["Voice"]


class Voice:
    """Runs an addon's stack (or a custom one) on text; one Voice serves many concurrent streams."""

    def __init__(self, addon: Addon, stack: Any = None, *, device: str | torch.device = "cpu",
                 registry: Registry | None = None) -> None:
        self.addon = addon
        spec = addon.stack if stack is None else stack
        try:
            block = build_stack(spec, addon, device=device, registry=registry or addon.registry)
        except ConfigError as exc:
            if stack is None and exc.source is None:
                raise ConfigError(exc.path, exc.message, exc.hint, source=str(addon.path)) from exc
            raise
        if not isinstance(block, StreamableBlock):
            raise ConfigError("stack", f"{block.type_name} is a {block.kind} block; a voice's stack must "
                              "produce frames, so it needs a streamable block at the top")
        self.block: StreamableBlock = block

    @classmethod
    def load(cls, name_or_path: str | Path, overrides: Mapping[str, Any] | None = None,
             **kwargs: Any) -> Voice:
        """Load an addon by path or registered name and build its stack."""
        return cls(load_addon(name_or_path, overrides, registry=kwargs.pop("registry", None)), **kwargs)

    @property
    def output_kind(self) -> str | None:
        """What the stack's chunks hold: "mel", "waveform", or None when no block says."""
        return self.block.output_kind(None)

    def encode(self, text: str) -> Utterance:
        """Apply the addon's text front end."""
        return self.addon.frontend(text)

    def stream(self, text: str) -> Iterator[Chunk]:
        """Yield chunks as the stack makes them; the front end runs before the first chunk is asked for."""
        return self.stream_utterance(self.encode(text))

    def stream_utterance(self, utt: Utterance) -> Iterator[Chunk]:
        """Stream from ready-made tensors (e.g. symbols from an external front end)."""
        return self.block.stream(utt, None)

    def synthesize(self, text: str) -> torch.Tensor:
        """The whole output of the stack for ``text``, [T, C]."""
        return concat_chunks(self.stream(text))
