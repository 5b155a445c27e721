"""Limits that make hangs impossible: frames per symbol and per utterance, and text length, per addon.

An addon may declare them in ``[limits]``; the defaults are generous for speech and small enough
that a runaway duration predictor, a tiny pace or a flood of text is an error within seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import StreamError

__all__ = ["Limits", "read_limits", "check_symbol_frames", "MAX_NESTING"]

MAX_NESTING = 64
"""How deep block specs (and config tables) may nest; deeper is a config error, not a RecursionError."""


@dataclass(frozen=True)
class Limits:
    """Bounds an addon may declare in ``[limits]``; the defaults turn a runaway network into an error."""

    max_frames_per_symbol: int = 200
    max_frames_per_utterance: int = 40_000
    max_text_chars: int = 1_000_000
    source: str = "default"


def read_limits(config: Mapping[str, Any], source: str | None = None) -> Limits:
    """The addon's ``[limits]`` table with defaults; each value a positive integer, else a ConfigError."""
    from ._schema import LimitsSpec, validate  # msgspec loads with the first config read, not before

    table = config.get("limits", {})
    validate(table, LimitsSpec, "limits", source=source)
    return Limits(**table, source=f"{source}: limits" if table and source else "default")


def check_symbol_frames(counts: Any, limits: Limits, where: str) -> None:
    """Refuse durations beyond the addon's limits before any frame is made (StreamError naming ``where``).

    ``counts`` is a torch tensor or a NumPy array of frames per symbol."""
    from ._arrays import numel  # NumPy: not for reading a config's limits

    if numel(counts) == 0:
        return
    worst = int(counts.max())
    if worst > limits.max_frames_per_symbol:
        index = int(counts.argmax())
        raise StreamError(f"{where}: symbol {index} would last {worst} frames, more than "
                          f"max_frames_per_symbol = {limits.max_frames_per_symbol} ({limits.source}); "
                          "the duration predictor or pace is out of range")
    total = int(counts.sum())
    if total > limits.max_frames_per_utterance:
        raise StreamError(f"{where}: the utterance would last {total} frames, more than "
                          f"max_frames_per_utterance = {limits.max_frames_per_utterance} ({limits.source}); "
                          "use shorter sentences, or raise the limit in the addon's [limits]")
