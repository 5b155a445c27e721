"""Typed parameters: a config value is checked against its constructor annotation before a block is built.

Blocks declare types the ordinary way (``chunk_frames: int = 32``) and ranges with ``Annotated``
(``pace: Annotated[float, Range(0.25, 4)]``); a wrong value is a ConfigError at its config path
that says what was expected, never a TypeError from deep inside the block.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

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


class _Mismatch(Exception):
    def __init__(self, expected: str) -> None:
        self.expected = expected


def check_values(cls: type, params: Mapping[str, Any], path: str) -> None:
    """Check every given parameter against ``cls.__init__``'s annotations; ConfigError at ``path.KEY``."""
    hints = _hints(cls)
    for key, value in params.items():
        hint = hints.get(key)
        if hint is None:
            continue
        try:
            _check(value, hint)
        except _Mismatch as exc:
            raise ConfigError(f"{path}.{key}", f"expected {exc.expected}, got {_show(value)}") from None


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__, include_extras=True)
    except Exception:  # annotations naming things only a type checker sees: no check, as before
        return {}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check(value: Any, hint: Any) -> None:
    origin = typing.get_origin(hint)
    if origin is Annotated:
        base, *extras = typing.get_args(hint)
        ranges = [e for e in extras if isinstance(e, Range)]
        try:
            _check(value, base)
        except _Mismatch as exc:
            if ranges and base in (int, float) and exc.expected != "a finite number":
                # "a positive integer" says more than "an integer"
                raise _Mismatch(ranges[0].describe(base is int)) from None
            raise
        for extra in extras:
            if isinstance(extra, Range) and not extra.contains(value):
                raise _Mismatch(extra.describe(base is int))
        return
    if hint is Any or hint is object or isinstance(hint, typing.TypeVar):
        return
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return
        failures = []
        for option in options:
            if option is type(None):
                continue
            try:
                _check(value, option)
                return
            except _Mismatch as exc:
                failures.append(exc.expected)
        if type(None) in options:
            failures.append("none")
        raise _Mismatch(" or ".join(dict.fromkeys(failures)))
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices or isinstance(value, bool) != any(isinstance(c, bool) for c in choices):
            raise _Mismatch("one of " + ", ".join(repr(c) for c in choices))
        return
    if hint is bool:
        if not isinstance(value, bool):
            raise _Mismatch("true or false")
        return
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Mismatch("an integer")
        return
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _Mismatch("a number")
        if not math.isfinite(value):
            raise _Mismatch("a finite number")
        return
    if hint is str:
        if not isinstance(value, str):
            raise _Mismatch("a string")
        return
    if hint is Path or (inspect.isclass(hint) and issubclass(hint, Path)):
        if not isinstance(value, (str, Path)):
            raise _Mismatch("a path (a string)")
        return
    if origin in (list, tuple, Sequence, typing.Sequence) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _Mismatch("a list")
        args = typing.get_args(hint)
        item = args[0] if args and (origin is not tuple or (len(args) == 2 and args[1] is Ellipsis)) else None
        for element in value if item is not None else ():
            try:
                _check(element, item)
            except _Mismatch as exc:
                raise _Mismatch(f"a list of {_plural(exc.expected)}") from None
        return
    if origin in (dict, Mapping, typing.Mapping) or hint is dict:
        if not isinstance(value, dict):
            raise _Mismatch("a table")
        return
    # Other classes (tensors, networks, blocks built from nested specs) are checked by their builders.


def _plural(expected: str) -> str:
    for article in ("an ", "a "):
        if expected.startswith(article):
            return expected[len(article):] + "s"
    return expected
