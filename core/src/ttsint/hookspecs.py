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


@hookspec(firstresult=True)
def ttsint_resolve_addon(name: str) -> Any:
    """Return the folder of the addon that ``name`` describes though no plugin registered it, else None.

    Asked only for a name that is neither a folder nor a registered addon: a name with parameters in it,
    such as the voice mix ``kokoro-af_heart*0.7+am_michael*0.3``. Raise an AddonError for a name the
    plugin recognises but cannot serve (an unknown voice in the mix), so the user learns why.
    """


@hookspec
def ttsint_register_runtimes(register: Callable[[str, Any], None]) -> None:
    """Call ``register(name, target)`` for each network runtime; target is a Runtime or "module:attr"."""


@hookspec
def ttsint_register_plotters(register: Callable[[str, Any], None]) -> None:
    """Call ``register(suffix, target)`` for a function that draws mel frames to a ``suffix`` file.

    ``synth --plot out.png`` calls it as ``target(mel, path, sample_rate=, hop_length=, title=)`` with
    mel a float array [T, n_mels]; target is a function or a lazy "module:attr".
    """


@hookspec
def ttsint_register_commands(cli: Any) -> None:
    """Add subcommands to the ``ttsint`` click group that ``make_cli`` builds: ``cli.add_command(command)``.

    Called once per CLI; import heavy packages inside the command, so ``ttsint --help`` stays fast.
    """
