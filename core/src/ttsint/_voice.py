"""A Voice is an addon with its stack built: text in, chunks of frames out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._addon import Addon, load_addon
from ._arrays import cpu_device
from ._blocks import StreamableBlock, chunks_to, walk
from ._chunking import concat_chunks
from ._data import SEGMENT_KEY, Chunk, Utterance
from ._errors import ConfigError, FrontendError, ParameterError
from ._guard import OutputGuard
from ._registry import Registry, get_registry
from ._runtimes import Binding, RuntimePool
from ._segments import SegmentSettings, segment_settings
from ._speech import SpeechStream
from ._stack import build_stack

if TYPE_CHECKING:
    import torch

__all__ = ["Voice"]


class Voice:
    """Runs an addon's stack (or a custom one) on text; one Voice serves many concurrent streams.

    ``runtime`` (a name, or a table with ``type`` and options) and ``device`` run every network of the
    stack there, over what the addon and its blocks say; unset, each network runs where they say.
    """

    def __init__(self, addon: Addon, stack: Any = None, *, runtime: Any = None,
                 device: str | torch.device | None = None, registry: Registry | None = None) -> None:
        self.addon = addon
        spec = addon.stack if stack is None else stack
        self.runtimes = RuntimePool(registry or addon.registry or get_registry())
        try:
            block = build_stack(spec, addon, runtime=runtime, device=device, registry=self.runtimes.registry,
                                pool=self.runtimes)
            self.runtimes.wait()  # networks load in the background while the rest of the stack builds
        except ConfigError as exc:
            if stack is None and exc.source is None:
                raise ConfigError(exc.path, exc.message, exc.hint, source=str(addon.path)) from exc
            raise
        if not isinstance(block, StreamableBlock):
            raise ConfigError("stack", f"{block.type_name} is a {block.kind} block; a voice's stack must "
                              "produce frames, so it needs a streamable block at the top")
        self.block: StreamableBlock = block
        self._guard: OutputGuard | None = None
        self.segment_settings: SegmentSettings = segment_settings(addon)

    @property
    def guarded(self) -> OutputGuard:
        """``block`` behind the output guard, which every stream goes through: finite, well-shaped,
        bounded output, or a StreamError. Rebuilt if ``block`` is replaced (e.g. tapped for a plot)."""
        if self._guard is None or self._guard.block is not self.block:
            a = self.addon
            self._guard = OutputGuard(self.block, n_mels=a.n_mels, hop_length=a.hop_length, limits=a.limits)
        return self._guard

    @property
    def bindings(self) -> list[Binding]:
        """Each (block, network) pair of the built stack and the runtime that runs it, in build order."""
        return list(self.runtimes.bindings)

    def network_reports(self) -> dict[str, dict[str, Any]]:
        """Each bound network's runtime, device and figures, keyed ``BLOCK_PATH:NETWORK``."""
        return {f"{b.block_path}:{b.network.name}": b.executable.report() for b in self.bindings}

    def close(self) -> None:
        """Close the blocks and release the runtimes' sessions; the voice cannot be used afterwards."""
        self.block.close()
        self.runtimes.close()

    def __enter__(self) -> Voice:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def load(cls, name_or_path: str | Path | Addon, overrides: Mapping[str, Any] | None = None,
             **kwargs: Any) -> Voice:
        """Load an addon by path or registered name (or take one loaded already) and build its stack."""
        if isinstance(name_or_path, Addon):
            if overrides:
                raise ValueError("overrides apply when an addon is loaded; pass them to load_addon")
            return cls(name_or_path, **kwargs)
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
        most = self.addon.limits.max_text_chars
        if len(text) > most:
            raise FrontendError(f"the text has {len(text)} characters, more than max_text_chars = {most} "
                                f"({self.addon.limits.source}); split it into several requests")
        return self.addon.frontend.segments(text, s.max_symbols, source=s.source)

    @property
    def request_params(self) -> frozenset[str]:
        """The per-request parameters some block of the stack reads (``Block.request_params``)."""
        return frozenset(name for node in walk(self.block) for name in node.block.request_params)

    def stream(self, text: str, *, lookahead: bool = True, params: Mapping[str, float] | None = None,
               ) -> SpeechStream:
        """Stream text of any length, sentence after sentence, as one run of chunks with pauses between.

        The first sentence goes through the front end before this returns (so its errors raise
        here); later ones are prepared in the background while earlier ones stream, or, with
        ``lookahead=False``, in the consuming thread when they are reached. ``params`` are this
        request's parameters (e.g. ``{"speed": 1.5}``), handed to the blocks that read them in every
        sentence's utterance; one the stack does not read is a ParameterError.
        """
        pause = round(self.segment_settings.pause / self.frame_seconds)
        extra = self._request_values(params)
        segments = ((t, {**u, **extra, SEGMENT_KEY: np.array(i)})
                    for i, (t, u) in enumerate(self.segments(text)))
        return SpeechStream(self.guarded, segments, pause_frames=pause, lookahead=lookahead)

    def _request_values(self, params: Mapping[str, float] | None) -> dict[str, Any]:
        if not params:
            return {}
        honoured = self.request_params
        out = {}
        for name, value in params.items():
            if name not in honoured:
                raise ParameterError(name, f"no block of voice {self.addon.name!r} reads it",
                                     f"parameters it reads: {', '.join(sorted(honoured)) or 'none'}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ParameterError(name, f"expected a number, got {value!r}")
            out[name] = np.array(float(value), dtype=np.float32)
        return out

    def stream_utterance(self, utt: Utterance) -> Iterator[Chunk]:
        """Stream from ready-made arrays (e.g. symbols from an external front end); chunks come out on
        the CPU wherever the networks ran (torch tensors from torch blocks, NumPy from NumPy blocks)."""
        return chunks_to(self.guarded.stream(utt, None), cpu_device())  # type: ignore[return-value]

    def synthesize(self, text: str) -> Any:
        """The whole output of the stack for ``text``, [T, C], pauses between sentences included."""
        return concat_chunks(self.stream(text))
