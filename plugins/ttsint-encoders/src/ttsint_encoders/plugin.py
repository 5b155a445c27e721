"""Registers this package's block types (lazily: loading the registry imports no torch) and the demo addon."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ttsint

_BLOCKS = {
    "Encoders": "ttsint_encoders.encoders:Encoders",
    "CustomizedEncoders": "ttsint_encoders.encoders:CustomizedEncoders",
    "Upsampler": "ttsint_encoders.upsampler:Upsampler",
    "Decoder": "ttsint_encoders.decoder:Decoder",
    "StatefulDecoder": "ttsint_encoders.stateful_decoder:StatefulDecoder",
}


@ttsint.hookimpl
def ttsint_register_blocks(register: Callable[[str, Any], None]) -> None:
    for name, target in _BLOCKS.items():
        register(name, target)


@ttsint.hookimpl
def ttsint_register_addons(register: Callable[[str, Any], None]) -> None:
    register("demo", Path(__file__).parent / "demo" / "addon")
