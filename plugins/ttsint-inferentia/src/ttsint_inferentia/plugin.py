"""Registers this package's block types and runtimes lazily, so loading the registry imports no torch code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ttsint

_BLOCKS = {
    "NeuronEncoders": "ttsint_inferentia.encoders:NeuronEncoders",
    "NeuronDecoder": "ttsint_inferentia.decoder:NeuronDecoder",
}


_RUNTIMES = {
    "cpu-static": "ttsint_inferentia.runtimes:CpuStaticRuntime",
    "neuron": "ttsint_inferentia.runtimes:NeuronRuntime",
    "onnx-static": "ttsint_inferentia.onnx_static:OnnxStaticRuntime",
}


@ttsint.hookimpl
def ttsint_register_runtimes(register: Callable[[str, Any], None]) -> None:
    for name, target in _RUNTIMES.items():
        register(name, target)


@ttsint.hookimpl
def ttsint_register_blocks(register: Callable[[str, Any], None]) -> None:
    for name, target in _BLOCKS.items():
        register(name, target)
