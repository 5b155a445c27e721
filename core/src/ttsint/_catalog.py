"""What a plugin registers, read from the ``names.toml`` it ships, without importing the plugin.

Each first-party plugin owns one such file in its package: the names it registers in each table
(blocks with their kind and one-line summary). ``ttsint blocks`` describes blocks from it, so
listing them imports neither torch nor any block module; and when a first-party plugin is not
installed, its file (bundled into core's wheel, or found in the source checkout) says what to
install. Adding a block to a plugin therefore edits only that plugin: tests/test_registry.py
fails when a plugin's file and what it registers disagree. Third-party plugins may ship one too.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DATA_FILE", "PluginNames", "read_names", "package_names", "first_party", "install_hint",
           "block_summary"]

DATA_FILE = "names.toml"
TABLES = ("blocks", "addons", "frontends", "runtimes", "plotters", "commands")
"""The Registry tables a plugin may fill, as ``names.toml`` names them."""


@dataclass(frozen=True)
class PluginNames:
    """One plugin's ``names.toml``: its distribution and, per table, each name with what it says of it."""

    distribution: str
    tables: dict[str, dict[str, dict[str, Any]]]
    path: Path
    dynamic: frozenset[str] = frozenset()
    """Tables whose names depend on what else is installed (e.g. addons found in voice packages)."""

    def names(self, table: str) -> set[str]:
        return set(self.tables.get(table, {}))


def read_names(path: Path) -> PluginNames:
    """Parse one ``names.toml``: ``distribution``, a list of names per table, or ``[blocks.NAME]`` tables."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    for table in TABLES:
        entries = data.get(table, {})
        if isinstance(entries, list):
            tables[table] = {str(name): {} for name in entries}
        elif isinstance(entries, dict):
            tables[table] = {str(name): dict(info) if isinstance(info, dict) else {}
                             for name, info in entries.items()}
    dynamic = data.get("dynamic", [])
    return PluginNames(str(data.get("distribution", "")), tables, path,
                       frozenset(str(t) for t in dynamic) if isinstance(dynamic, list) else frozenset())


@lru_cache(maxsize=64)
def package_names(package: str) -> PluginNames | None:
    """The ``names.toml`` of an installed top-level package, found without running its ``__init__``."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / DATA_FILE
        if path.is_file():
            try:
                return read_names(path)
            except (OSError, tomllib.TOMLDecodeError):
                return None
    return None


@lru_cache(maxsize=1)
def first_party() -> tuple[PluginNames, ...]:
    """Every first-party plugin's names: copies bundled into core's wheel, else the source checkout's."""
    here = Path(__file__).resolve().parent
    bundled = sorted((here / "_first_party").glob("*.toml"))
    checkout = here.parents[2] / "plugins"
    files = bundled or sorted(checkout.glob(f"*/src/*/{DATA_FILE}"))
    found = []
    for path in files:
        try:
            found.append(read_names(path))
        except (OSError, tomllib.TOMLDecodeError):
            continue
    return tuple(found)


def install_hint(table: str, name: str) -> str | None:
    """"NAME is provided by DIST: pip install DIST" when a first-party plugin registers ``name``."""
    for plugin in first_party():
        if name in plugin.names(table):
            dist = plugin.distribution
            return f"{name!r} is provided by {dist}: pip install {dist}"
    return None


def block_summary(target: Any, name: str) -> tuple[str, str] | None:
    """(kind, summary) of a block registered as ``name``: from the class itself if it is loaded, else
    from the ``names.toml`` of the package of a lazy "module:attr" target; None when neither says."""
    if not isinstance(target, str):
        doc = ((getattr(target, "__doc__", None) or "").strip().splitlines() or [""])[0]
        return getattr(target, "kind", "?"), doc
    names = package_names(target.partition(":")[0].split(".")[0])
    info = names.tables.get("blocks", {}).get(name) if names else None
    if info is None or "kind" not in info:
        return None
    return str(info["kind"]), str(info.get("summary", ""))
