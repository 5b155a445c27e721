"""WindowedNetworkBlock: one addon network run over context windows of upstream frames, streaming exactly.

Decoders and neural vocoders share this: the context is resolved against the network's receptive field
in one place, each window is padded and masked when the shape is fixed, and context is trimmed after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

import numpy as np

from ._arrays import is_torch
from ._blocks import StreamableBlock
from ._chunking import Window, context_windows, length_mask, next_window, pad_to
from ._data import SEGMENT_KEY, BuildContext, Chunk, Utterance
from ._errors import ParameterError, StreamError
from ._network import Network
from ._params import Range

__all__ = ["WindowedNetworkBlock", "resolve_context"]


def resolve_context(network: Network, context_frames: int | None, exact: bool) -> int:
    """The context frames each side of a window: the receptive field by default, never less when ``exact``.

    A network that declares no receptive field cannot be streamed exactly, so it is an error unless
    ``exact`` is False (then ``context_frames`` defaults to 0).
    """
    rf = network.receptive_field
    if context_frames is not None and (isinstance(context_frames, bool) or not isinstance(context_frames, int)
                                       or context_frames < 0):
        raise ParameterError("context_frames", f"expected a non-negative integer, got {context_frames!r}")
    if not exact:
        return context_frames if context_frames is not None else rf or 0
    if rf is None:
        raise ParameterError("exact", f"network {network.name!r} declares no receptive_field, so the context "
                             "needed for exact streaming is unknown",
                             "declare receptive_field in the addon's networks table, or set exact = false "
                             "(and context_frames) to stream approximately")
    if context_frames is None:
        return rf
    if context_frames < rf:
        raise ParameterError("context_frames", f"{context_frames} is less than the receptive field of "
                             f"network {network.name!r} ({rf}); streamed output would differ from the whole "
                             "utterance's", f"use at least {rf}, leave it out, or set exact = false")
    return context_frames


class WindowedNetworkBlock(StreamableBlock):
    """Runs the addon's network of ``network_role`` on windows of upstream frames with context each side.

    The network takes one frame input plus an optional ``mask``. With ``fixed_window`` every window is
    padded to ``chunk_frames + 2 * context_frames`` and masked, for backends that compile one shape.
    Each window's output has ``output_rate`` positions per input frame; the context's share is trimmed.
    A subclass that declares ``arrays = "numpy"`` gets NumPy windows and runs its network on NumPy (on
    onnxruntime, with no torch); ``to_frames`` then receives and returns NumPy.
    """

    network_role: ClassVar[str] = "decoder"
    fixed_window: ClassVar[bool] = False
    output_rate: ClassVar[int] = 1
    context_params = ("network",)

    def __init__(self, network: Network, chunk_frames: Annotated[int, Range(1)] = 64,
                 first_chunk_frames: Annotated[int, Range(1)] | None = 16,
                 context_frames: Annotated[int, Range(0)] | None = None, exact: bool = True,
                 chunk_growth: float | None = None) -> None:
        if not isinstance(chunk_frames, int) or chunk_frames < 1:
            raise ParameterError("chunk_frames", f"must be >= 1, got {chunk_frames!r}")
        number = isinstance(chunk_growth, int | float) and not isinstance(chunk_growth, bool)
        if chunk_growth is not None and not (number and chunk_growth > 1):
            raise ParameterError("chunk_growth", f"must be a number > 1, got {chunk_growth!r}",
                                 "windows after the first grow by this factor up to chunk_frames; "
                                 "leave it out for windows of chunk_frames after the first")
        if chunk_growth is not None and self.fixed_window:
            raise ParameterError("chunk_growth", f"{type(self).__name__} compiles one window shape, so its "
                                 "windows cannot grow", "leave chunk_growth out")
        self.chunk_growth = None if chunk_growth is None else float(chunk_growth)
        if first_chunk_frames is not None and first_chunk_frames < 1:
            raise ParameterError("first_chunk_frames", f"must be >= 1, got {first_chunk_frames!r}")
        self.network = network
        self.exact = bool(exact)
        self.context_frames = resolve_context(network, context_frames, self.exact)
        self.chunk_frames = chunk_frames
        inputs = [n for n in network.inputs if n != "mask"]
        if len(inputs) != 1:
            raise ParameterError("network", f"network {network.name!r} must take one frame input plus an "
                                 f"optional mask, it takes {network.inputs}")
        self.input_name = inputs[0]
        self.output_name = network.outputs[0]
        self.window_frames: int | None = None
        if self.fixed_window:
            if "mask" not in network.inputs:
                raise ParameterError("network", f"network {network.name!r} takes no 'mask' input, so "
                                     "padding a window would change its output; fixed-shape blocks need "
                                     "masked networks")
            self.window_frames = chunk_frames + 2 * self.context_frames
            widest = chunk_frames + self.context_frames  # the first window has no left context
            first_chunk_frames = widest if first_chunk_frames is None else first_chunk_frames
            if not 1 <= first_chunk_frames <= widest:
                raise ParameterError("first_chunk_frames", f"first_chunk_frames must be between 1 and "
                                     f"chunk_frames + context_frames ({widest}) to fit the fixed window, "
                                     f"got {first_chunk_frames}")
        self.first_chunk_frames = first_chunk_frames

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> WindowedNetworkBlock:
        params = dict(params)
        network = ctx.network(cls.network_role, params.pop("network", None))
        return cls(network=network, **params)

    def upstream_frames(self, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        """The upstream chunks this block windows; subclasses may check their width."""
        if upstream is None:
            raise StreamError(f"{self.where}: {self.type_name} runs its network on upstream frames; "
                              "put a block that makes them (such as Upsampler) before it")
        return upstream

    def run_network(self, tensors: dict[str, Any]) -> Any:
        """The network's first output for one window's (unbatched) inputs; override to compile or batch."""
        return self.network.run(tensors)[self.output_name]

    def run_window(self, window: Window) -> Any:
        """The network's output for one window, padded and masked to the fixed shape when there is one.

        Of the kind this block declares (``arrays``), as its windows' frames are."""
        tensors = {self.input_name: window.frames}
        if self.window_frames is not None:
            real = int(window.frames.shape[0])
            mask = length_mask(real, self.window_frames, None if is_torch(window.frames) else np.float32)
            tensors = {self.input_name: pad_to(window.frames, self.window_frames), "mask": mask}
        return self.run_network(tensors)

    def to_frames(self, output: Any) -> Any:
        """A window's output as time-first [T * output_rate, C] frames (a waveform becomes [samples, 1])."""
        return output

    def first_window(self, utt: Utterance) -> int | None:
        """The frames of this utterance's first window (None: ``chunk_frames``); a subclass may size it."""
        first = self.first_chunk_frames
        if first is not None and int(utt.get(SEGMENT_KEY, 0)):
            # A later segment is readied while earlier ones play: it starts at the second window's size,
            # sparing a small first window and the context recomputed after it (en-rms: 124 of ~300
            # positions a sentence).
            first = next_window(first, self.chunk_frames, self.chunk_growth)
        return first

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        rate = self.output_rate
        windows = context_windows(self.upstream_frames(upstream), self.chunk_frames, self.context_frames,
                                  self.first_window(utt), self.chunk_growth)
        for window in windows:
            out = self.to_frames(self.run_window(window))
            yield Chunk(frames=window.trim(out, rate), start=window.start * rate)

    def run_all(self, frames: Any) -> Any:
        """The network on a whole utterance at once: the reference that exact streaming equals."""
        return self.to_frames(self.network.run({self.input_name: frames})[self.output_name])

    def report(self) -> dict[str, Any]:
        return {} if self.exact else {"exact": False, "context_frames": self.context_frames}

    def describe(self) -> str:
        exact = "" if self.exact else ", exact=false"
        growth = "" if self.chunk_growth is None else f", chunk_growth={self.chunk_growth:g}"
        return (f"{self.type_name} ({self.network.name}, chunk_frames={self.chunk_frames}, "
                f"first_chunk_frames={self.first_chunk_frames}{growth}, context_frames={self.context_frames}"
                f"{exact})")
