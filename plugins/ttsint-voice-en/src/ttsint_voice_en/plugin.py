"""Registers the en-rms addon and the flite-phones front end its config names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ttsint


@ttsint.hookimpl
def ttsint_register_addons(register: Callable[[str, Any], None]) -> None:
    register("en-rms", Path(__file__).parent / "addon")


@ttsint.hookimpl
def ttsint_register_frontends(register: Callable[[str, Any], None]) -> None:
    register("flite-phones", "ttsint_voice_en.frontend:FlitePhones")
