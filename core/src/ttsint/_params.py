"""Typed parameters: a config value is checked against its constructor annotation before a block is built.

Blocks declare types the ordinary way (``chunk_frames: int = 32``) and ranges with ``Annotated``
(``pace: Annotated[float, Range(0.25, 4)]``); a wrong value is a ConfigError at its config path
that says what was expected, never a TypeError from deep inside the block. The check is the one
every config value gets (``_schema.validate``, msgspec).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from ._errors import ConfigError
from ._schema import InvalidValue, Range, show, validate, words

__all__ = ["Range", "check_values"]


def check_values(cls: type, params: Mapping[str, Any], path: str) -> None:
    """Check every given parameter against ``cls.__init__``'s annotations; ConfigError at ``path.KEY``."""
    hints = _hints(cls)
    checked = {key: hints[key] for key in params if key in hints}
    if not checked:
        return
    for key, hint in checked.items():
        value = params[key]
        try:
            validate(str(value) if isinstance(value, PurePath) else value, hint, error=InvalidValue)
        except TypeError:  # a type msgspec cannot check (e.g. a union of two classes): left to the block
            continue
        except InvalidValue:
            raise ConfigError(f"{path}.{key}", f"expected {words(hint, value)}, got {show(value)}") from None


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__, include_extras=True)
    except Exception:  # annotations naming things only a type checker sees: no check, as before
        return {}
