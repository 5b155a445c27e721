"""Core is a plugin of itself: its structural blocks and character front end register like any other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .hookspecs import hookimpl


@hookimpl
def ttsint_register_blocks(register: Callable[[str, Any], None]) -> None:
    for name in ("SequenceBlockContainer", "StreamableStack", "StreamablePipeline"):
        register(name, f"ttsint._blocks:{name}")


@hookimpl
def ttsint_register_frontends(register: Callable[[str, Any], None]) -> None:
    register("characters", "ttsint._frontends:CharacterFrontend")


@hookimpl
def ttsint_register_runtimes(register: Callable[[str, Any], None]) -> None:
    register("torch", "ttsint._torch_runtime:TorchRuntime")
