"""Registers this package's block types lazily, so loading the registry imports no torch code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ttsint

_BLOCKS = {
    "NeuronEncoders": "ttsint_inferentia.encoders:NeuronEncoders",
    "NeuronDecoder": "ttsint_inferentia.decoder:NeuronDecoder",
}


@ttsint.hookimpl
def ttsint_register_blocks(register: Callable[[str, Any], None]) -> None:
    for name, target in _BLOCKS.items():
        register(name, target)
