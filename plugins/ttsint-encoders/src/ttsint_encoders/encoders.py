"""Encoders run an addon's encoder networks in dependency order; CustomizedEncoders, in parallel.

All take either kind of arrays and return that kind (``arrays = "any"``): a front end's NumPy symbols
run on ONNX Runtime with no torch (the torch runtime converts NumPy in and out), torch tensors stay torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ttsint
from ttsint import BuildContext, Network, ParameterError, SequenceBlock, SequenceBlockContainer, Utterance


class EncoderNetwork(SequenceBlock):
    """One encoder network as a sequence block: reads its inputs from the utterance, adds its outputs."""

    arrays = "any"

    def __init__(self, network: Network) -> None:
        self.network = network

    def forward(self, utt: Utterance) -> Utterance:
        return {**utt, **self.network.run({n: utt[n] for n in self.network.inputs if n in utt})}

    def describe(self) -> str:
        return f"{self.network.name}: {self.network.inputs} -> {self.network.outputs}"


def dependency_levels(networks: Sequence[Network], path: str) -> list[list[Network]]:
    """``ttsint.network_levels``, with a cycle reported as a ConfigError at ``path``."""
    try:
        return ttsint.network_levels(networks)
    except ValueError as exc:
        raise ttsint.ConfigError(path, str(exc),
                                 "check their inputs and outputs in the addon's networks table") from exc


def _encoder_networks(ctx: BuildContext, type_name: str) -> list[Network]:
    if ctx.addon is None:
        raise ctx.error(f"{type_name} builds one block per encoder network of the addon, "
                        "and there is no addon",
                        "build the stack with an addon: ttsint.Voice.load(...) or build_stack(spec, addon)")
    return ctx.networks("encoder")


class Encoders(SequenceBlockContainer):
    """Runs all of the addon's encoder networks one after another, in the order their tensor names require."""

    context_params = ("blocks",)

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> Encoders:
        levels = dependency_levels(_encoder_networks(ctx, cls.type_name), ctx.path)
        return cls([EncoderNetwork(net) for level in levels for net in level])

    def children(self) -> list[tuple[str, ttsint.Block]]:
        return [(f"encoder[{i}]", b) for i, b in enumerate(self.blocks)]


class CustomizedEncoders(SequenceBlock):
    """Same contract and outputs as Encoders, but encoders that do not depend on each other run in parallel.

    torch and ONNX Runtime release the GIL inside their kernels, so a thread pool overlaps the networks' work.
    """

    arrays = "any"
    context_params = ("levels",)

    def __init__(self, levels: list[list[SequenceBlock]], threads: int | None = None) -> None:
        widest = max(len(level) for level in levels)
        self.levels = levels
        self.threads = threads or max(1, min(widest, os.cpu_count() or 1))
        if self.threads < 1:
            raise ParameterError("threads", f"must be >= 1, got {threads}")
        self._pool = (ThreadPoolExecutor(self.threads, thread_name_prefix="ttsint-encoders")
                      if widest > 1 else None)

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> CustomizedEncoders:
        levels = dependency_levels(_encoder_networks(ctx, cls.type_name), ctx.path)
        blocks = [[EncoderNetwork(net) for net in level] for level in levels]
        return cls(blocks, threads=params.get("threads"))

    def forward(self, utt: Utterance) -> Utterance:
        out = dict(utt)
        for level in self.levels:
            if len(level) == 1 or self._pool is None:
                results = [b.forward(out) for b in level]
            else:
                futures = [self._pool.submit(b.forward, out) for b in level]
                results = [f.result() for f in futures]
            for result in results:
                out.update(result)
        return out

    def close(self) -> None:
        """Shut the thread pool down (waiting for running encoders), then close the encoder blocks."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        super().close()

    def describe(self) -> str:
        return f"{self.type_name} (threads={self.threads}, levels={[len(lv) for lv in self.levels]})"

    def children(self) -> list[tuple[str, ttsint.Block]]:
        flat = [b for level in self.levels for b in level]
        return [(f"encoder[{i}]", b) for i, b in enumerate(flat)]
