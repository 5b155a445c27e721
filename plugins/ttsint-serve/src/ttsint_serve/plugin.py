"""Registers `ttsint serve`; the server's modules are imported only when the command runs."""

from __future__ import annotations

from typing import Any

import ttsint


@ttsint.hookimpl
def ttsint_register_commands(cli: Any) -> None:
    from .command import serve

    cli.add_command(serve)
