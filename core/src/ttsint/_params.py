"""Typed parameters: a config value is checked against its constructor annotation before a block is built.

Blocks declare types the ordinary way (``chunk_frames: int = 32``) and ranges with ``Annotated``
(``pace: Annotated[float, Range(0.25, 4)]``); a wrong value is a ConfigError at its config path
that says what was expected, never a TypeError from deep inside the block. The check is the one
every config value gets (``_schema.convert``, msgspec).
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from ._errors import ConfigError

__all__ = ["Range", "check_values"]


@dataclass(frozen=True)
class Range:
    """Inclusive bounds for a numeric parameter: ``Annotated[int, Range(1)]`` means a positive integer."""

    min: float | None = None
    max: float | None = None

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self, integer: bool) -> str:
        noun = "integer" if integer else "number"
        if self.max is None and self.min is not None:
            if self.min == 1 and integer:
                return "a positive integer"
            if self.min == 0:
                return f"a non-negative {noun}"
            return f"{'an' if integer else 'a'} {noun} >= {self.min:g}"
        if self.min is None and self.max is not None:
            return f"{'an' if integer else 'a'} {noun} <= {self.max:g}"
        return f"{'an' if integer else 'a'} {noun} from {self.min:g} to {self.max:g}"


def check_values(cls: type, params: Mapping[str, Any], path: str) -> None:
    """Check every given parameter against ``cls.__init__``'s annotations; ConfigError at ``path.KEY``."""
    hints = _hints(cls)
    checked = {key: hints[key] for key in params if key in hints}
    if not checked:
        return
    from ._schema import Invalid, convert, show, words  # msgspec: imported when a block is built

    for key, hint in checked.items():
        value = params[key]
        try:
            convert(str(value) if isinstance(value, PurePath) else value, hint, error=Invalid)
        except TypeError:  # a type msgspec cannot check (e.g. a union of two classes): left to the block
            continue
        except Invalid:
            raise ConfigError(f"{path}.{key}", f"expected {words(hint, value)}, got {show(value)}") from None


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__, include_extras=True)
    except Exception:  # annotations naming things only a type checker sees: no check, as before
        return {}
