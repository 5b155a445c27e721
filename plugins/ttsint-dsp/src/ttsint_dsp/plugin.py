"""Registers the block types, the mel plotter of ``synth --plot`` (both lazily) and ``ttsint plot``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ttsint

_BLOCKS = {
    "Gain": "ttsint_dsp.effects:Gain",
    "Tilt": "ttsint_dsp.effects:Tilt",
    "Smooth": "ttsint_dsp.effects:Smooth",
    "MelShift": "ttsint_dsp.effects:MelShift",
    "Normalize": "ttsint_dsp.effects:Normalize",
    "Pace": "ttsint_dsp.pace:Pace",
    "ChunkStats": "ttsint_dsp.diagnostics:ChunkStats",
    "Tap": "ttsint_dsp.diagnostics:Tap",
    "NaNGuard": "ttsint_dsp.diagnostics:NaNGuard",
    "GriffinLim": "ttsint_dsp.griffinlim:GriffinLim",
    "PGHI": "ttsint_dsp.pghi:PGHI",
    "NetworkVocoder": "ttsint_dsp.vocoders:NetworkVocoder",
}


@ttsint.hookimpl
def ttsint_register_blocks(register: Callable[[str, Any], None]) -> None:
    for name, target in _BLOCKS.items():
        register(name, target)


@ttsint.hookimpl
def ttsint_register_plotters(register: Callable[[str, Any], None]) -> None:
    for suffix in (".png", ".svg", ".pdf"):
        register(suffix, "ttsint_dsp.plot:plot_mel")


@ttsint.hookimpl
def ttsint_register_commands(cli: Any) -> None:
    from .commands import plot

    cli.add_command(plot)
