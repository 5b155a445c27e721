"""NeuronDecoder: decodes fixed-size windows (a chunk plus context each side): one compiled shape serves."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from ttsint import Chunk, Network, ParameterError, RunStats, Utterance, WindowedNetworkBlock

__all__ = ["NeuronDecoder"]


class NeuronDecoder(WindowedNetworkBlock):
    """Same mel as Decoder, streamed from windows of ``chunk_frames + 2 * context_frames`` frames.

    Every window has that one shape: windows at the utterance's ends are padded with zero frames and a
    mask, and the padding and context are trimmed from the output. The first window has no left
    context, so by default it carries ``chunk_frames + context_frames`` output frames. The network runs
    on any runtime; by default ``cpu-static``, which compiles the one window shape.
    """

    produces = "mel"
    network_role = "decoder"
    fixed_window = True
    fixed_shapes = True
    default_runtime = "cpu-static"

    def __init__(self, network: Network, chunk_frames: int = 64, first_chunk_frames: int | None = None,
                 context_frames: int | None = None, precompile: bool = False, exact: bool = True) -> None:
        super().__init__(network, chunk_frames, first_chunk_frames, context_frames, exact)
        self.stats = RunStats()
        self.precompile = precompile
        if precompile:
            self._compile_window()

    def _compile_window(self) -> None:
        """Run the one window shape now, so a runtime that compiles per shape does it before any utterance."""
        assert self.window_frames is not None
        spec = (self.network.input_specs() or {}).get(self.input_name)
        if spec is None or any(d is None for d in spec[0][2:]):
            raise ParameterError("precompile", f"needs the feature size of {self.network.name!r}'s input, "
                                 "which its file does not record", "export with torch.export, or set "
                                 "precompile = false")
        shape, dtype = spec
        frames = torch.zeros((1, self.window_frames, *shape[2:]), dtype=dtype)
        self.network.run({self.input_name: frames, "mask": torch.zeros(1, self.window_frames)}, batched=True)

    def run_network(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        batched = {k: v.unsqueeze(0) for k, v in tensors.items()}
        out = self.network.run(batched, batched=True)[self.output_name][0]
        real = int(tensors["mask"].sum().item())
        self.stats.add(windows=1, computed=self.window_frames or 0, padded=(self.window_frames or 0) - real)
        return out

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        try:
            yield from super().stream(utt, upstream)
        finally:
            # Counted when the stream ends, finished or abandoned; the block itself keeps no stream state.
            self.stats.add(streams=1)

    def report(self) -> dict[str, Any]:
        counts = {k: int(v) for k, v in self.stats.snapshot().items()}
        return {**super().report(), "streams": counts.get("streams", 0), "windows": counts.get("windows", 0),
                "window_frames": self.window_frames, "computed": counts.get("computed", 0),
                "padded": counts.get("padded", 0),
                "padding_waste": counts.get("padded", 0) / max(1, counts.get("computed", 0))}

    def describe(self) -> str:
        return f"{super().describe()[:-1]}, window_frames={self.window_frames})"
