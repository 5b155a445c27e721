"""Registers the Piper blocks, the espeak-ng front end, the installed Piper voices and ``ttsint piper``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ttsint

ADDONS = Path(__file__).parent / "addons"


@ttsint.hookimpl
def ttsint_register_blocks(register: Callable[[str, Any], None]) -> None:
    register("PiperEncoder", "ttsint_piper.blocks:PiperEncoder")
    register("PiperFlow", "ttsint_piper.blocks:PiperFlow")
    register("PiperDecoder", "ttsint_piper.blocks:PiperDecoder")


@ttsint.hookimpl
def ttsint_register_frontends(register: Callable[[str, Any], None]) -> None:
    register("piper-espeak", "ttsint_piper.frontend:PiperPhonemes")


@ttsint.hookimpl
def ttsint_register_addons(register: Callable[[str, Any], None]) -> None:
    from ._installed import installed_voices  # finds voice packages without importing them (or NumPy)

    for name in installed_voices():
        if (ADDONS / name / "addon.toml").is_file():
            register(name, ADDONS / name)


@ttsint.hookimpl
def ttsint_register_commands(cli: Any) -> None:
    from .cli import piper

    cli.add_command(piper)
