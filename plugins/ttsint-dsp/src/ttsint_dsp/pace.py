"""Pace: a sequence block that scales the predicted durations, to speak faster or slower."""

from __future__ import annotations

from typing import Annotated

import torch
from ttsint import ParameterError, Range, SequenceBlock, StreamError, Utterance

__all__ = ["Pace"]


class Pace(SequenceBlock):
    """Divides ``durations`` by ``factor`` (> 1 speaks faster). Put it after the encoders in a sequence slot.

    Integer durations are rounded on their running sum, so the total length scales by the factor
    rather than drifting by a rounding error per symbol.
    """

    def __init__(self, factor: Annotated[float, Range(0.1, 10)], key: str = "durations") -> None:
        if not factor > 0:
            raise ParameterError("factor", f"must be > 0, got {factor}")
        self.factor = float(factor)
        self.key = key

    def forward(self, utt: Utterance) -> Utterance:
        if self.key not in utt:
            where = getattr(self, "config_path", self.type_name)
            raise StreamError(
                f"{where}: {self.type_name} scales {self.key!r}, which is not in the utterance "
                f"(it has {sorted(utt)}); put it after the block that predicts durations"
            )
        durations = utt[self.key]
        if durations.is_floating_point():
            scaled = durations / self.factor
        else:
            ends = torch.round(torch.cumsum(durations.to(torch.float64), 0) / self.factor)
            scaled = torch.diff(ends, prepend=ends.new_zeros(1)).to(durations.dtype)
        return {**utt, self.key: scaled}

    def describe(self) -> str:
        return f"{self.type_name} (x{self.factor:g})"
