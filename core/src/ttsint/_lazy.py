"""Lazy exports: a package's public names, imported from their modules on first use."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports", "lazy_module"]

_TABLES: dict[str, dict[str, str]] = {}


def lazy_exports(package: str,
                 modules: Mapping[str, Iterable[str]]) -> tuple[Callable[[str], Any], list[str]]:
    """A module ``__getattr__`` and the sorted names it serves, each imported from its submodule on first use.

    ``ttsint`` itself and plugin packages use it so that importing a package (which a plugin's entry
    module does first) imports none of the modules behind its names; the first lookup stores the
    value in the package, so later ones cost nothing.
    """
    where = {name: module for module, names in modules.items() for name in names}
    _TABLES[package] = where

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__, sorted(where, key=lambda s: (s.lower(), s))


def lazy_module(package: str, name: str) -> str | None:
    """The submodule of ``package`` that defines the lazily exported ``name``, without importing it."""
    return _TABLES.get(package, {}).get(name)
