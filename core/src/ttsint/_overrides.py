"""Config overrides: ``--set a.b.0.c=VALUE`` parsed and applied to a copy of an addon's config."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Mapping
from typing import Any

from ._errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["parse_override", "apply_overrides"]


def parse_override(text: str) -> tuple[str, Any]:
    """Split "a.b.0.c=VALUE"; VALUE is a TOML literal (2, 2.5, true, "x", [1, 2]) or JSON, else text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", f"expected KEY=VALUE, got {text!r}",
                          "e.g. --set stack.0.sequence_block.type=CustomizedEncoders")
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        try:  # JSON too, as before: null, and {"key": value} tables
            value = json.loads(raw)
        except (ValueError, RecursionError):
            value = raw
    return key.strip(), value


def apply_overrides(config: dict[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a deep copy of ``config`` with dotted-path overrides set; index len(list) appends."""
    result = copy.deepcopy(config)
    for dotted, value in (overrides or {}).items():
        parts = dotted.split(".")
        node: Any = result
        for depth, part in enumerate(parts):
            here = ".".join(parts[:depth + 1])
            last = depth == len(parts) - 1
            nxt: Any = None if last else ([] if parts[depth + 1].isdigit() else {})
            if isinstance(node, list):
                if not part.isdigit():
                    raise ConfigError(here, f"{'.'.join(parts[:depth]) or 'config'} is a list; "
                                      f"expected an index, got {part!r}")
                index = int(part)
                if index > len(node):
                    raise ConfigError(here, f"index {index} is out of range for a list of {len(node)}",
                                      f"use {len(node)} to append")
                if index == len(node):
                    node.append(value if last else nxt)
                elif last:
                    node[index] = value
                node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, nxt)
            else:
                raise ConfigError(here, f"cannot set a key inside {type(node).__name__} value {node!r}")
    return result
