"""Registers the Kokoro blocks, front end and command, one addon per installed voice pack, and voice mixes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ttsint

from . import library


@ttsint.hookimpl
def ttsint_register_blocks(register: Callable[[str, Any], None]) -> None:
    register("KokoroNetwork", "ttsint_kokoro.blocks:KokoroNetwork")
    register("KokoroAudio", "ttsint_kokoro.blocks:KokoroAudio")


@ttsint.hookimpl
def ttsint_register_frontends(register: Callable[[str, Any], None]) -> None:
    register("kokoro-espeak", "ttsint_kokoro.frontend:KokoroPhonemes")


@ttsint.hookimpl
def ttsint_register_addons(register: Callable[[str, Any], None]) -> None:
    for name, folder in library.installed().items():
        register(name, folder)


@ttsint.hookimpl
def ttsint_resolve_addon(name: str) -> Path | None:
    return library.resolve_mix(name, library.installed())


@ttsint.hookimpl
def ttsint_register_commands(cli: Any) -> None:
    from .commands import kokoro

    cli.add_command(kokoro)
