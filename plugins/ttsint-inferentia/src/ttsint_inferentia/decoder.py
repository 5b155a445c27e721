"""NeuronDecoder: decodes fixed-size windows (a chunk plus context each side) with one compiled shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from ttsint import (
    BuildContext,
    Chunk,
    Network,
    StreamableBlock,
    StreamError,
    Utterance,
    context_windows,
    length_mask,
    pad_to,
)

from .backends import Backend, get_backend
from .compiler import Compiler, RunStats

__all__ = ["NeuronDecoder"]


class NeuronDecoder(StreamableBlock):
    """Same mel as Decoder, streamed from windows of ``chunk_frames + 2 * context_frames`` frames.

    Every window has that one shape: windows at the utterance's ends are padded with zero frames and a
    mask, and the padding and context are trimmed from the output. The first window has no left
    context, so by default it carries ``chunk_frames + context_frames`` output frames.
    """

    produces = "mel"
    context_params = ("network",)

    def __init__(self, network: Network, chunk_frames: int = 64, first_chunk_frames: int | None = None,
                 context_frames: int | None = None, backend: str | Backend = "cpu-static",
                 cache_dir: str | Path | None = None, precompile: bool = False) -> None:
        rf = network.receptive_field
        if context_frames is None:
            if rf is None:
                raise ValueError(f"network {network.name!r} declares no receptive_field, so the context "
                                 "needed for exact windows is unknown; set context_frames")
            context_frames = rf
        if context_frames < 0 or (rf is not None and context_frames < rf):
            raise ValueError(f"context_frames {context_frames} is less than the receptive field of network "
                             f"{network.name!r} ({rf or 0}); windowed output would differ from the whole "
                             "utterance's")
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        if first_chunk_frames is None:
            first_chunk_frames = chunk_frames + context_frames
        if not 1 <= first_chunk_frames <= chunk_frames + context_frames:
            raise ValueError(f"first_chunk_frames must be between 1 and chunk_frames + context_frames "
                             f"({chunk_frames + context_frames}) to fit the fixed window, "
                             f"got {first_chunk_frames}")
        if "mask" not in network.inputs:
            raise ValueError(f"network {network.name!r} takes no 'mask' input, so padding a window would "
                             "change its output; fixed-shape blocks need masked networks")
        inputs = [n for n in network.inputs if n != "mask"]
        if len(inputs) != 1:
            raise ValueError(f"network {network.name!r} must take one frame input plus a mask, "
                             f"it takes {network.inputs}")
        self.network = network
        self.input_name = inputs[0]
        self.chunk_frames = chunk_frames
        self.first_chunk_frames = first_chunk_frames
        self.context_frames = context_frames
        self.window_frames = chunk_frames + 2 * context_frames
        self.backend = get_backend(backend)
        self.stats = RunStats()
        self.compiler = Compiler(self.backend, cache_dir, self.stats)
        self.precompile = precompile
        if precompile:
            self._compile_window()

    def _compile_window(self) -> None:
        """Compile (or load) the one window shape now, so the first utterance does not wait for it."""
        spec = (self.network.input_specs() or {}).get(self.input_name)
        if spec is None or any(d is None for d in spec[0][2:]):
            raise ValueError(f"precompile needs the feature size of {self.network.name!r}'s input, which its "
                             "file does not record (export with torch.export), or set precompile = false")
        shape, dtype = spec
        frames = torch.zeros((1, self.window_frames, *shape[2:]), dtype=dtype)
        self.compiler.network(self.network, {self.input_name: frames,
                                             "mask": torch.zeros(1, self.window_frames)})

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> NeuronDecoder:
        params = dict(params)
        network = ctx.network("decoder", params.pop("network", None))
        try:
            get_backend(params.get("backend", "cpu-static"))
        except ValueError as exc:
            raise ctx.error(str(exc), key="backend") from exc
        return cls(network=network, **params)

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is None:
            raise StreamError(f"{self.type_name} decodes upstream frames; "
                              "put a block such as Upsampler before it")
        out_name = self.network.outputs[0]
        size = self.window_frames
        windows = computed = padded = 0
        try:
            for window in context_windows(upstream, self.chunk_frames, self.context_frames,
                                          self.first_chunk_frames):
                real = int(window.frames.shape[0])
                tensors = {self.input_name: pad_to(window.frames, size).unsqueeze(0),
                           "mask": length_mask(real, size).unsqueeze(0)}
                out = self.compiler.network(self.network, tensors).run(tensors, batched=True)[out_name][0]
                windows += 1
                computed += size
                padded += size - real
                yield Chunk(frames=window.trim(out), start=window.start)
        finally:
            # Counted when the stream ends, finished or abandoned; the block itself keeps no stream state.
            self.stats.add(streams=1, windows=windows, computed=computed, padded=padded)

    def report(self) -> dict[str, Any]:
        counts = self.stats.snapshot()
        return {"backend": self.backend.name, "compiles": counts.get("compiles", 0),
                "cache_hits": counts.get("cache_hits", 0), "streams": counts.get("streams", 0),
                "windows": counts.get("windows", 0), "window_frames": self.window_frames,
                "computed": counts.get("computed", 0), "padded": counts.get("padded", 0),
                "padding_waste": counts.get("padded", 0) / max(1, counts.get("computed", 0))}

    def describe(self) -> str:
        return (f"{self.type_name} ({self.network.name}, backend={self.backend.name}, "
                f"chunk_frames={self.chunk_frames}, first_chunk_frames={self.first_chunk_frames}, "
                f"context_frames={self.context_frames}, window_frames={self.window_frames})")
