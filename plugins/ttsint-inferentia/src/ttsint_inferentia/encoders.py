"""NeuronEncoders: the addon's encoders on fixed-shape buckets, splitting long utterances at word starts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from ttsint import (
    BuildContext,
    Network,
    ParameterError,
    RunStats,
    SequenceBlock,
    Span,
    StreamError,
    Utterance,
    length_mask,
    network_levels,
    next_bucket,
    pad_to,
    split_spans,
    stitch_spans,
)

__all__ = ["NeuronEncoders", "encoder_order", "chain_receptive_field", "DEFAULT_BUCKETS"]

DEFAULT_BUCKETS = (32, 48, 64, 96, 128, 192, 256)
"""Lengths 1.5x apart, sized for sentences (texts reach the blocks a sentence at a time): 10.5 % of the
demo's encoder compute is padding for a 1,929-character text in 26 sentences, 32 % with steps of 2x
(benchmarks/bench_buckets.py). Precompiling costs 7 shapes per network instead of 4."""


def encoder_order(networks: Sequence[Network]) -> list[Network]:
    """Networks ordered so each one runs after the networks whose outputs it reads."""
    return [net for level in network_levels(networks) for net in level]


def chain_receptive_field(ordered: Sequence[Network]) -> tuple[int, list[str]]:
    """The one-sided receptive field of the whole chain (fields add up along dependencies), and the
    networks that declare none (treated as 0, so splitting only approximates their outputs)."""
    producers = {out: net.name for net in ordered for out in net.outputs}
    total: dict[str, int] = {}
    undeclared = []
    for net in ordered:
        if net.receptive_field is None:
            undeclared.append(net.name)
        upstream = [total[producers[i]] for i in net.inputs if i in producers and producers[i] != net.name]
        total[net.name] = (net.receptive_field or 0) + max(upstream, default=0)
    return max(total.values(), default=0), undeclared


class NeuronEncoders(SequenceBlock):
    """Same outputs as Encoders, on fixed shapes: inputs are padded to the next bucket and masked;
    utterances longer than the largest bucket are split into overlapping pieces and stitched.

    Pieces overlap by the encoders' receptive field on each side, so outputs are exact for networks that
    declare one; for networks that declare none (global attention) splitting only approximates. The
    networks run on any runtime; by default ``cpu-static``, which compiles one program per bucket.
    """

    context_params = ("networks",)
    fixed_shapes = True
    default_runtime = "cpu-static"

    def __init__(self, networks: Sequence[Network], buckets: Sequence[int] = DEFAULT_BUCKETS,
                 context_symbols: int | None = None, space_id: int | None = None,
                 precompile: bool = False) -> None:
        self.networks = encoder_order(networks)
        if not self.networks:
            raise ParameterError("networks", "NeuronEncoders needs at least one encoder network")
        unmasked = [n.name for n in self.networks if "mask" not in n.inputs]
        if unmasked:
            raise ParameterError("networks", f"network(s) {unmasked} take no 'mask' input, so padding "
                                 "them to a bucket would change their outputs; fixed-shape blocks need "
                                 "masked networks")
        self.buckets = sorted({int(b) for b in buckets})
        if not self.buckets or self.buckets[0] < 1:
            raise ParameterError("buckets", f"must be a non-empty list of positive lengths, "
                                 f"got {list(buckets)}")
        rf, self.undeclared = chain_receptive_field(self.networks)
        if context_symbols is None:
            # Without a declared field there is no exact answer; a quarter of the largest bucket is a guess.
            context_symbols = max(rf, self.buckets[-1] // 4) if self.undeclared else rf
        if context_symbols < rf:
            raise ParameterError("context_symbols", f"{context_symbols} is less than the encoders' receptive "
                                 f"field of {rf}; split outputs would differ from whole-utterance outputs")
        if self.buckets[-1] <= 2 * context_symbols:
            raise ParameterError("buckets", f"the largest bucket {self.buckets[-1]} must exceed twice the "
                                 f"context ({context_symbols}) so a split piece keeps some positions")
        self.context = context_symbols
        self.space_id = space_id
        self.stats = RunStats()
        produced = {o for n in self.networks for o in n.outputs}
        self.input_names = [i for i in dict.fromkeys(i for n in self.networks for i in n.inputs)
                            if i != "mask" and i not in produced]
        self.precompile = precompile
        if precompile:
            self._compile_all_buckets()

    def _compile_all_buckets(self) -> None:
        """Run every bucket once now, so a runtime that compiles per shape does it before any utterance."""
        specs = {}
        for net in self.networks:
            for name, spec in (net.input_specs() or {}).items():
                specs.setdefault(name, spec)
        missing = [n for n in self.input_names if n not in specs]
        if missing:
            raise ParameterError("precompile", f"needs the input shapes of {missing}, which the network "
                                 "files do not record", "export with torch.export, or set precompile = false")
        for bucket in self.buckets:
            dummy = {}
            for name in self.input_names:
                shape, dtype = specs[name]
                dims = [bucket if d is None else d for d in shape[1:]]
                dummy[name] = torch.zeros(dims, dtype=dtype)
            self.forward(dummy)
        self.stats.reset()  # warm-up utterances are not runs (the runtimes count their compiles)

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> NeuronEncoders:
        networks = ctx.networks("encoder")
        params = dict(params)
        if "space_id" not in params:
            symbols = list(ctx.addon.frontend.symbols)
            params["space_id"] = symbols.index(" ") if " " in symbols else None
        return cls(networks, **params)

    def word_starts(self, symbols: torch.Tensor) -> list[int] | None:
        """Positions just after each space: where a split keeps words whole."""
        if self.space_id is None or symbols.dim() != 1:
            return None
        return (torch.nonzero(symbols == self.space_id).flatten() + 1).tolist()

    def forward(self, utt: Utterance) -> Utterance:
        missing = [n for n in self.input_names if n not in utt]
        if missing:
            raise StreamError(f"{self.type_name} needs {missing} in the utterance; it has {sorted(utt)}")
        n = int(utt[self.input_names[0]].shape[0])
        for name in self.input_names:
            if utt[name].shape[0] != n:
                raise StreamError(f"{self.type_name} splits inputs position by position, but {name!r} has "
                                  f"{utt[name].shape[0]} positions and {self.input_names[0]!r} has {n}")
        words = self.word_starts(utt["symbols"]) if "symbols" in self.input_names else None
        spans = split_spans(n, self.buckets[-1], self.context, words)
        pieces: dict[str, list[tuple[Span, torch.Tensor]]] = {}
        computed = padded = 0
        for span in spans:
            bucket = next_bucket(span.length, self.buckets)
            assert bucket is not None  # split_spans keeps every span within the largest bucket
            tensors = {k: pad_to(utt[k][span.start:span.end], bucket).unsqueeze(0) for k in self.input_names}
            tensors["mask"] = length_mask(span.length, bucket).unsqueeze(0)
            for net in self.networks:
                tensors.update(net.run({k: tensors[k] for k in net.inputs}, batched=True))
                for out in net.outputs:
                    pieces.setdefault(out, []).append((span, tensors[out][0]))
                computed += bucket
                padded += bucket - span.length
        self.stats.add(utterances=1, pieces=len(spans), split_utterances=int(len(spans) > 1),
                       computed=computed, padded=padded)
        return {**utt, **{name: stitch_spans(outs) for name, outs in pieces.items()}}

    def report(self) -> dict[str, Any]:
        counts = self.stats.snapshot()
        keys = ("utterances", "pieces", "split_utterances", "computed", "padded")
        report: dict[str, Any] = {k: int(counts.get(k, 0)) for k in keys}
        report["padding_waste"] = report["padded"] / max(1, report["computed"])
        if self.undeclared and counts.get("split_utterances"):
            report["approximate"] = (f"split utterances, but {', '.join(self.undeclared)} declare no "
                                     "receptive_field: outputs near the cuts may differ from unsplit ones")
        return report

    def describe(self) -> str:
        return (f"{self.type_name} ({', '.join(n.name for n in self.networks)}; "
                f"buckets={self.buckets}, context_symbols={self.context})")
