"""The hooks a ttsint plugin implements; each receives a ``register`` callback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["hookspec", "hookimpl", "PROJECT"]

PROJECT = "ttsint"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ttsint_register_blocks(register: Callable[[str, Any], None]) -> None:
    """Call ``register(name, target)`` for each block type; target is a class or a lazy "module:attr"."""


@hookspec
def ttsint_register_addons(register: Callable[[str, Any], None]) -> None:
    """Call ``register(name, path)`` for each addon directory this distribution ships."""


@hookspec
def ttsint_register_frontends(register: Callable[[str, Any], None]) -> None:
    """Call ``register(name, target)`` for each text front end; target is a class or "module:attr"."""


@hookspec
def ttsint_register_runtimes(register: Callable[[str, Any], None]) -> None:
    """Call ``register(name, target)`` for each network runtime; target is a Runtime or "module:attr"."""


@hookspec
def ttsint_register_commands(cli: Any) -> None:
    """Add subcommands to the ``ttsint`` click group (e.g. ``@cli.command() def plot(...)``)."""
