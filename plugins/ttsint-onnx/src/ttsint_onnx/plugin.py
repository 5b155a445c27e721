"""Registers the ``onnxruntime`` runtime lazily, so loading the registry imports neither onnx nor torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ttsint


@ttsint.hookimpl
def ttsint_register_runtimes(register: Callable[[str, Any], None]) -> None:
    register("onnxruntime", "ttsint_onnx.runtime:OnnxRuntime")
