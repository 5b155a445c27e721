"""Schemas, declared once and checked by msgspec: what an addon's config holds, and the one way any
untrusted value (a config table, an override, a block parameter, a request body) is checked against a type.

msgspec reports a failure as one line with a JSON path; ``validate`` turns it into ttsint's own
paragraph: the config path (``networks.decoder.sha256``), what was expected in words (a field's
``Meta(description=...)``, else words made from its type), the value given, and for an unknown key
the closest accepted one. msgspec was chosen over pydantic for its import cost (see RESULTS.md,
"One validation library"); it is imported with this module, which loads when a config is read or a
block is built (``ttsint plugins`` and ``import ttsint`` do not load it).
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import re
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any, Literal, Union

import msgspec

from ._errors import ConfigError, InvalidValue

__all__ = ["Range", "validate", "words", "checked_type", "show", "AddonMeta", "NetworkSpec",
           "FrontendSpec", "LimitsSpec", "RuntimeTable", "RUNTIME",
           "RUNTIME_HINT"]

_FINITE = msgspec.Meta(ge=-sys.float_info.max, le=sys.float_info.max)  # NaN and ±inf fail both bounds
_FLOAT = object()  # a float whose bounds are already set


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


def validate(value: Any, schema: Any, prefix: str = "", *, source: str | None = None,
            error: type[Exception] = ConfigError) -> Any:
    """``value`` checked as ``schema`` (a msgspec Struct or a type), or ``error`` at ``prefix.PATH``.

    ``error`` is ConfigError (the config path, with ``source`` naming the file) or InvalidValue (the path
    relative to ``value``, for callers with their own error form: an HTTP 400, a Wyoming error event).
    """
    try:
        return msgspec.convert(value, _checked_cached(schema), strict=True)
    except msgspec.ValidationError as exc:
        invalid = _explain(str(exc), value, schema)
    if error is InvalidValue:
        raise invalid
    raise invalid.config_error(prefix, source)


def show(value: Any) -> str:
    """A value as an error message shows it: its repr, cut at 60 characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def words(hint: Any, failed: Any = None) -> str:
    """What ``hint`` accepts, in words ("a positive integer", "a list of strings or none")."""
    origin = typing.get_origin(hint)
    if origin is Annotated:
        base, *extras = typing.get_args(hint)
        for extra in extras:
            if isinstance(extra, msgspec.Meta) and extra.description:
                return extra.description
        ranges = [e for e in extras if isinstance(e, Range)]
        ranges += [Range(e.ge, e.le) for e in extras if isinstance(e, msgspec.Meta)
                   and (e.ge is not None or e.le is not None)]
        if ranges and (base is int or (base is float and not _nonfinite(failed))):  # nan: 'a finite number'
            return ranges[0].describe(base is int)
        said = words(base, failed)
        if any(isinstance(e, msgspec.Meta) and e.min_length == 1 for e in extras) and said.startswith("a "):
            return f"a non-empty {said[2:]}"
        return said
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        said = [words(o, failed) for o in options if o is not type(None)]
        if type(None) in options:
            said.append("none")
        return " or ".join(dict.fromkeys(said))
    if origin is Literal:
        return "one of " + ", ".join(repr(c) for c in typing.get_args(hint))
    if hint is bool:
        return "true or false"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a finite number" if _nonfinite(failed) else "a number"
    if hint is str:
        return "a string"
    if inspect.isclass(hint) and issubclass(hint, PurePath):
        return "a path (a string)"
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        args = typing.get_args(hint)
        item = args[0] if args and (origin is not tuple or (len(args) == 2 and args[1] is Ellipsis)) else None
        return f"a list of {_plural(words(item))}" if item is not None else "a list"
    if origin in (dict, Mapping) or hint is dict or _is_struct(hint):
        return "a table"
    return f"a {getattr(hint, '__name__', hint)}"


def checked_type(hint: Any) -> Any:
    """``hint`` as msgspec checks it: ``Range`` as bounds, floats finite, paths as strings, and classes
    msgspec does not know (tensors, networks, blocks built from nested specs) left to their builders."""
    if _is_struct(hint):
        return hint
    origin = typing.get_origin(hint)
    if origin is Annotated:
        base, *extras = typing.get_args(hint)
        metas = [e for e in extras if isinstance(e, msgspec.Meta)]
        if base is float and any(m.ge is not None or m.gt is not None or m.le is not None or m.lt is not None
                                 for m in metas):
            base = _FLOAT  # bounded already (NaN fails any bound)
        for r in (e for e in extras if isinstance(e, Range)):
            if base is float:  # one Meta per bound: the range's, else finite
                metas.append(msgspec.Meta(ge=_FINITE.ge if r.min is None else r.min,
                                          le=_FINITE.le if r.max is None else r.max))
                base = _FLOAT
            else:
                metas.append(msgspec.Meta(ge=r.min, le=r.max))
        inner = checked_type(base)
        for meta in metas:
            inner = Annotated[inner, meta]
        return inner
    if hint is float:
        return Annotated[float, _FINITE]
    if hint is _FLOAT:
        return float
    if hint in (bool, int, str, type(None)) or origin is Literal:
        return hint
    if inspect.isclass(hint) and issubclass(hint, PurePath):
        return str  # check_values passes a pathlib object given directly as its string
    if origin in (Union, types.UnionType):
        options = [checked_type(o) for o in typing.get_args(hint)]
        return Any if Any in options else Union[tuple(options)]  # noqa: UP007 (built from a tuple)
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        args = typing.get_args(hint)
        item = args[0] if args and (origin is not tuple or (len(args) == 2 and args[1] is Ellipsis)) else Any
        return list[checked_type(item)] if item is not Any else list
    if origin in (dict, Mapping) or hint is dict:
        args = typing.get_args(hint)
        return dict[Any, checked_type(args[1])] if len(args) == 2 else dict
    return Any


def _checked_cached(hint: Any) -> Any:
    """``checked_type(hint)``, remembered: msgspec compiles a new type on every call otherwise (2x the
    old hand-written check per block built; equal with the cache)."""
    try:
        return _checked_once(hint)
    except TypeError:  # an unhashable annotation
        return checked_type(hint)


@functools.lru_cache(maxsize=1024)
def _checked_once(hint: Any) -> Any:
    return checked_type(hint)


def _is_struct(hint: Any) -> bool:
    return inspect.isclass(hint) and issubclass(hint, msgspec.Struct)


def _nonfinite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _plural(expected: str) -> str:
    if " or " in expected:
        return " or ".join(_plural(e) for e in expected.split(" or "))
    for article in ("an ", "a "):
        if expected.startswith(article):
            return expected[len(article):] + "s"
    return expected


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<where>[^`]*)`)?$", re.S)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_FIELD = re.compile(r"^Object (?P<what>contains unknown|missing required) field `(?P<key>[^`]*)`$")


def _explain(text: str, value: Any, schema: Any) -> InvalidValue:
    """msgspec's one line turned into ttsint's words: the field's path, what it expects, what it got."""
    found = _AT.match(text)
    assert found is not None
    message, where = found["message"], found["where"] or ""
    # Walk the value and the schema along msgspec's path; report at the innermost field of a table,
    # in the field's own words (an element of a list of tensor names is reported at the list).
    path: list[str] = []
    field_hint, field_value, node, hint = schema, value, value, schema
    for name, index in _STEP.findall(where):
        hint = _strip(hint)
        if name:
            path.append(name)
            hints = _struct_hints(hint)
            hint = hints.get(name, Any)
            node = node.get(name) if isinstance(node, Mapping) else None
            field_hint, field_value = hint, node
        else:
            args = typing.get_args(hint)
            hint = args[-1] if args else Any
            if index.isdigit():
                node = node[int(index)] if isinstance(node, (list, tuple)) else None
                if _is_struct(_strip(hint)):  # a table in a list is named by its index: voices[0]
                    path.append(f"[{index}]")
            else:  # msgspec hides a table's key ("[...]"): the first entry that fails is the one
                key = _failing_key(node, hint)
                if key is not None:
                    path.append(str(key))
                    node = node[key]
                    field_hint, field_value = hint, node
    shown = _joined(path)
    keyed = _FIELD.match(message)
    if keyed:
        key = keyed["key"]
        hints = _struct_hints(_strip(hint))
        at = _joined([*path, key])
        if keyed["what"] == "missing required":
            expected = words(hints.get(key, Any))
            return InvalidValue(at, f"missing (expected {expected})", key=key, kind="missing")
        accepted = sorted(hints)
        close = difflib.get_close_matches(key, accepted, n=1)
        hint_text = (f"did you mean {close[0]!r}? " if close else "") + f"accepted: {', '.join(accepted)}"
        return InvalidValue(at, f"unknown key {key!r}", hint_text, key=key, kind="unknown")
    if message.startswith(("Expected", "InvalidValue enum value")):
        return InvalidValue(shown, f"expected {words(field_hint, field_value)}, got {show(field_value)}",
                       _hint(field_hint), key=path[-1] if path else None)
    return InvalidValue(shown, message, key=path[-1] if path else None, kind="check")  # a __post_init__ check


def _joined(path: list[str]) -> str:
    return "".join(p if p.startswith("[") else f".{p}" for p in path).lstrip(".")


def _failing_key(table: Any, hint: Any) -> Any:
    for key, item in table.items() if isinstance(table, Mapping) else ():
        try:
            msgspec.convert(item, checked_type(hint), strict=True)
        except msgspec.ValidationError:
            return key
    return None


def _hint(hint: Any) -> str | None:
    """What to do, from a field's ``Meta(extra={"hint": ...})``."""
    for extra in typing.get_args(hint)[1:] if typing.get_origin(hint) is Annotated else ():
        if isinstance(extra, msgspec.Meta) and extra.extra and "hint" in extra.extra:
            return extra.extra["hint"]
    if typing.get_origin(hint) in (Union, types.UnionType):
        return next(filter(None, map(_hint, typing.get_args(hint))), None)
    return None


def _strip(hint: Any) -> Any:
    """The Struct (or container) inside ``Annotated`` and ``X | None``."""
    while True:
        origin = typing.get_origin(hint)
        if origin is Annotated:
            hint = typing.get_args(hint)[0]
        elif origin in (Union, types.UnionType):
            options = [o for o in typing.get_args(hint) if o is not type(None)]
            structs = [o for o in options if inspect.isclass(o) and issubclass(o, msgspec.Struct)]
            hint = structs[0] if structs else options[0]
            if len(options) > 1 and not structs:
                return hint
        else:
            return hint


def _struct_hints(hint: Any) -> dict[str, Any]:
    if inspect.isclass(hint) and issubclass(hint, msgspec.Struct):
        return typing.get_type_hints(hint, include_extras=True)
    return {}


# -- an addon's config ---------------------------------------------------------------------------------

def _optional(hint: Any, expected: str, what_to_do: str | None = None) -> Any:
    """A key that may be left out: ``hint`` when given, described as ``expected`` (without "or none")."""
    return Annotated[hint | None, msgspec.Meta(description=expected,
                                               extra={"hint": what_to_do} if what_to_do else None)]


_NONEMPTY = msgspec.Meta(min_length=1)
_POSITIVE = Annotated[int, msgspec.Meta(ge=1, description="a positive integer")]
_LIMIT = Annotated[_POSITIVE | msgspec.UnsetType, msgspec.Meta(description="a positive integer")]
_DIGEST = Annotated[str, msgspec.Meta(pattern="^[0-9a-fA-F]{64}$")]  # a SHA-256, either case
_NAMES = Annotated[list[str], msgspec.Meta(min_length=1, description="a non-empty list of tensor names")]


class FrontendSpec(msgspec.Struct, frozen=True):
    """``[frontend]``: ``type`` names the text front end; the other keys are its parameters."""

    type: str


class RuntimeTable(msgspec.Struct, frozen=True):
    """A ``runtime`` given as a table: ``type`` names the runtime; its other keys are its options."""

    type: Annotated[str, _NONEMPTY]


RUNTIME_HINT = ('e.g. runtime = "onnxruntime" or runtime = { type = "onnxruntime", threads = 2 }; '
                "`ttsint runtimes` lists the names")
RUNTIME = Annotated[Annotated[str, _NONEMPTY] | RuntimeTable, msgspec.Meta(
    description="a runtime name or a table with a 'type' key", extra={"hint": RUNTIME_HINT})]
"""A ``runtime`` setting, at any level (network, block, voice, ``--runtime``)."""


class LimitsSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``[limits]``: each key a positive integer; a key left out keeps ``Limits``' default."""

    max_frames_per_symbol: _LIMIT = msgspec.UNSET
    max_frames_per_utterance: _LIMIT = msgspec.UNSET
    max_text_chars: _LIMIT = msgspec.UNSET


class AddonMeta(msgspec.Struct, frozen=True):
    """The top level of ``addon.toml``: metadata, the front end and the stack.

    Other top-level tables (``limits``, ``segments``, a plugin's own) are read by their owners, so
    unknown keys pass here; the network specs below are core's alone and refuse unknown keys.
    """

    name: str
    version: str
    sample_rate: _POSITIVE
    n_mels: _POSITIVE
    hop_length: _POSITIVE
    frontend: FrontendSpec
    stack: Annotated[Annotated[list[Any], _NONEMPTY] | Annotated[dict[str, Any], _NONEMPTY],
                     msgspec.Meta(description="a non-empty list of block specs")]
    networks: Annotated[dict[str, Any], msgspec.Meta(description="a table of networks by name")] = {}
    language: _optional(str | list[str], "a string or a list of strings") = None
    license: _optional(str, "a string") = None
    description: _optional(str, "a string") = None


class NetworkSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One ``[networks.NAME]`` table: the exported file, its role, tensor names, and how to run it."""

    file: str
    role: str
    inputs: _NAMES
    outputs: _NAMES
    sha256: _optional(_DIGEST, "64 hexadecimal digits") = None
    onnx_file: _optional(str, "a string") = None
    onnx_sha256: _optional(_DIGEST, "64 hexadecimal digits") = None
    runtime: _optional(str | dict[str, Any], "a runtime name or a table such as "
                                             "{ type = \"onnxruntime\", threads = 1 }") = None
    device: _optional(str, "a device name such as \"cpu\" or \"cuda:0\"") = None
    receptive_field: _optional(Annotated[int, msgspec.Meta(ge=0)], "a non-negative integer",
                               "omit it for networks without a finite receptive field") = None
    batch: _optional(bool, "true or false", "true lets concurrent streams' calls run as one batched call") \
        = None
