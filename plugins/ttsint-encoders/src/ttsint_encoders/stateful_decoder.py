"""StatefulDecoder: the addon's step decoder network run over upstream frames with per-layer caches."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Any

import numpy as np
from ttsint import (
    BuildContext,
    Chunk,
    Network,
    ParameterError,
    Range,
    StreamableBlock,
    StreamError,
    Utterance,
    is_torch,
    to_numpy,
    to_torch,
)


class StatefulDecoder(StreamableBlock):
    """Decodes each upstream frame once, carrying every conv layer's recent inputs between steps in a state.

    Unlike Decoder's windows, no context is recomputed: the step network's output lags its input by
    ``lag`` (its receptive field) frames, so the first step takes ``first_chunk_frames + lag`` frames,
    the first ``lag`` outputs are dropped, and zero frames with mask 0 flush the last ones. The output
    equals whole-utterance decoding.

    It computes in NumPy and returns frames of the kind it is given (``arrays = "any"``): with the step
    network on ONNX Runtime, en-rms streams without torch; torch frames in give torch frames out.
    """

    produces = "mel"
    network_role = "decoder_step"
    context_params = ("network",)
    arrays = "any"

    def __init__(self, network: Network, chunk_frames: Annotated[int, Range(1)] = 4096,
                 first_chunk_frames: Annotated[int, Range(1)] = 16, chunk_growth: float | None = 16) -> None:
        for name, value in (("chunk_frames", chunk_frames), ("first_chunk_frames", first_chunk_frames)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(name, f"must be an integer >= 1, got {value!r}")
        number = isinstance(chunk_growth, int | float) and not isinstance(chunk_growth, bool)
        if chunk_growth is not None and not (number and chunk_growth > 1):
            raise ParameterError("chunk_growth", f"must be a number > 1, got {chunk_growth!r}",
                                 "steps after the first grow by this factor up to chunk_frames; set it "
                                 "to null for steps of chunk_frames after the first")
        expected = ["frames", "mask", "state"]
        if list(network.inputs) != expected or len(network.outputs) != 3:
            raise ParameterError("network", f"network {network.name!r} must take inputs {expected} and "
                                 f"return (frames, mask, state), it takes {network.inputs} -> "
                                 f"{network.outputs}")
        if network.receptive_field is None:
            raise ParameterError("network", f"network {network.name!r} declares no receptive_field, so how "
                                 "many frames its output lags is unknown",
                                 "declare receptive_field (the lag) in the addon's networks table")
        # The shapes torch.export recorded, read from the archive without torch (an ONNX form runs it).
        specs = network.specs if network.specs is not None else network.input_specs()
        if specs is None or "state" not in specs or any(d is None for d in specs["state"][0]):
            raise ParameterError("network", f"network {network.name!r} must be a torch.export graph with a "
                                 "fixed state shape, so each utterance can start from a zero state")
        self.network = network
        self.lag = int(network.receptive_field)
        self.state_shape = tuple(int(d) for d in specs["state"][0][1:])  # without the batch of one
        self.hidden = specs["frames"][0][-1]
        self.chunk_frames = chunk_frames
        self.first_chunk_frames = first_chunk_frames
        self.chunk_growth = None if chunk_growth is None else float(chunk_growth)
        self.mel_name, self.mask_name, self.state_name = network.outputs

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> StatefulDecoder:
        params = dict(params)
        network = ctx.network(cls.network_role, params.pop("network", None))
        return cls(network=network, **params)

    def steps(self) -> Iterator[int]:
        """Output frames per step: the first chunk, then growing by ``chunk_growth`` to ``chunk_frames``."""
        size = self.first_chunk_frames
        while True:
            yield size
            growth = self.chunk_growth
            size = self.chunk_frames if growth is None else min(self.chunk_frames,
                                                               max(size + 1, math.ceil(size * growth)))

    def run_step(self, frames: np.ndarray, mask: np.ndarray,
                 state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One step of the network on NumPy arrays: the (lagged) mel for ``frames`` and the state after."""
        out = self.network.run({"frames": frames, "mask": mask, "state": state})
        return to_numpy(out[self.mel_name]), to_numpy(out[self.state_name])

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is None:
            raise StreamError(f"{self.where}: {self.type_name} decodes upstream frames; put a block that "
                              "makes them (such as Upsampler) before it")
        source = iter(upstream)
        state = np.zeros(self.state_shape, dtype=np.float32)
        pieces: list[np.ndarray] = []
        as_torch = False  # whether upstream gave torch frames: the output is then torch too
        held = pulled = emitted = 0
        warmup = self.lag  # outputs still to drop: they belong before the utterance's first frame
        exhausted = False
        for n, out_frames in enumerate(self.steps()):
            size = out_frames + (self.lag if n == 0 else 0)
            while not exhausted and held < size:
                chunk = next(source, None)
                if chunk is None:
                    exhausted = True
                    break
                if chunk.start != pulled:
                    raise StreamError(f"upstream chunk starts at frame {chunk.start}, expected {pulled}: "
                                      "chunks must be contiguous")
                if len(chunk):
                    if is_torch(chunk.frames):
                        as_torch = True
                    pieces.append(to_numpy(chunk.frames))
                    held += len(chunk)
                    pulled = chunk.end
            if pulled == 0:
                return
            if len(pieces) == 1:
                buffer = pieces[0]
            else:
                buffer = np.concatenate(pieces) if pieces else np.zeros((0, self.hidden), np.float32)
            take = len(buffer) if exhausted else size
            frames, rest = buffer[:take], buffer[take:]
            pieces, held = ([rest] if len(rest) else []), len(rest)
            mask = np.ones(len(frames), dtype=np.float32)
            if exhausted:  # the zero padding right of the utterance, which releases the last lag outputs
                frames = np.concatenate([frames, np.zeros((self.lag, frames.shape[1]), frames.dtype)])
                mask = np.concatenate([mask, np.zeros(self.lag, np.float32)])
            mel, state = self.run_step(frames, mask, state)
            drop = min(warmup, len(mel))
            warmup -= drop
            if len(mel) > drop:
                out = mel[drop:]
                yield Chunk(frames=to_torch(out) if as_torch else out, start=emitted)
                emitted += len(mel) - drop
            if exhausted:
                return

    def decode_all(self, frames: Any) -> Any:
        """Decode a whole utterance in one step plus the flush: the same as streaming, in one call (of the
        kind of ``frames``)."""
        array = to_numpy(frames)
        mask = np.concatenate([np.ones(len(array), np.float32), np.zeros(self.lag, np.float32)])
        padded = np.concatenate([array, np.zeros((self.lag, array.shape[1]), array.dtype)])
        mel = self.run_step(padded, mask, np.zeros(self.state_shape, np.float32))[0][self.lag:]
        return to_torch(mel) if is_torch(frames) else mel

    def describe(self) -> str:
        growth = "" if self.chunk_growth is None else f", chunk_growth={self.chunk_growth:g}"
        return (f"{self.type_name} ({self.network.name}, chunk_frames={self.chunk_frames}, "
                f"first_chunk_frames={self.first_chunk_frames}{growth}, lag={self.lag})")
