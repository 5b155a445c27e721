"""A Voice is an addon with its stack built: text in, chunks of frames out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from .addon import Addon, load_addon
from .blocks import StreamableBlock
from .chunking import concat_chunks
from .data import Chunk, Utterance
from .errors import ConfigError
from .registry import Registry
from .segments import SegmentSettings, segment_settings
from .speech import SpeechStream
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
        self.segment_settings: SegmentSettings = segment_settings(addon)

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

    @property
    def frame_seconds(self) -> float:
        """Seconds of audio per output frame: one sample for a waveform, one hop otherwise."""
        a = self.addon
        return 1 / a.sample_rate if self.output_kind == "waveform" else a.hop_length / a.sample_rate

    def segments(self, text: str) -> Iterator[tuple[str, Utterance]]:
        """The text's segments (sentences, split to the addon's symbol limit), each with its utterance."""
        s = self.segment_settings
        return self.addon.frontend.segments(text, s.max_symbols, source=s.source)

    def stream(self, text: str) -> SpeechStream:
        """Stream text of any length, sentence after sentence, as one run of chunks with pauses between.

        The first sentence goes through the front end before this returns (so its errors raise
        here); later ones are prepared in the background while earlier ones stream.
        """
        pause = round(self.segment_settings.pause / self.frame_seconds)
        return SpeechStream(self.block, self.segments(text), pause_frames=pause)

    def stream_utterance(self, utt: Utterance) -> Iterator[Chunk]:
        """Stream from ready-made tensors (e.g. symbols from an external front end)."""
        return self.block.stream(utt, None)

    def synthesize(self, text: str) -> torch.Tensor:
        """The whole output of the stack for ``text``, [T, C], pauses between sentences included."""
        return concat_chunks(self.stream(text))
