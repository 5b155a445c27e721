"""Addons: exported networks plus the config (metadata, front end, ``stack``) that says how to run them.

This module finds an addon (a directory or a registered name), reads and validates its config, and
loads its networks; running networks lives in ``_network.py``, overrides in ``_overrides.py``.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._errors import AddonError, ConfigError
from ._limits import MAX_NESTING, Limits, read_limits
from ._overrides import apply_overrides
from ._registry import Registry, get_registry
from ._safety import confined_file

if TYPE_CHECKING:  # these import torch: reading a config (ttsint voices) needs none of them
    from ._frontends import Frontend
    from ._network import Network

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Addon", "load_addon", "default_addon", "voice_summary", "stack_types", "CONFIG_NAMES",
           "SAMPLE_RATES"]

CONFIG_NAMES = ("addon.toml", "addon.json")
_REQUIRED_META = ("name", "version", "sample_rate", "n_mels", "hop_length")
#: Audio rates an addon may declare: 1 kHz up to 768 kHz, the highest rate audio interfaces offer
#: (a WAV header holds at most 2**32 - 1, and nothing above 768 kHz is speech).
SAMPLE_RATES = (1_000, 768_000)


@dataclass
class Addon:
    """A loaded addon: ``config`` (overrides applied), ``networks`` by name, and the ``stack`` spec."""

    name: str
    path: Path
    config: dict[str, Any]
    networks: dict[str, Network]
    registry: Registry | None = field(default=None, repr=False)
    _frontend: Frontend | None = field(default=None, repr=False)
    config_file: Path | None = field(default=None, repr=False)

    @property
    def stack(self) -> Any:
        return self.config["stack"]

    @property
    def version(self) -> str:
        return self.config["version"]

    @property
    def sample_rate(self) -> int:
        return self.config["sample_rate"]

    @property
    def n_mels(self) -> int:
        return self.config["n_mels"]

    @property
    def hop_length(self) -> int:
        return self.config["hop_length"]

    def file(self, name: Any, key: str) -> Path:
        """A file this addon ships (e.g. a front end's ``symbols_file``), resolved inside its folder.

        A name that is absolute, leads outside the folder (also through symlinks), or is not a
        regular file is a ConfigError at ``key``: addons read only their own files.
        """
        return confined_file(self.path, name, key, source=str(self.config_file) if self.config_file else None)

    def networks_with_role(self, role: str) -> list[Network]:
        """Networks of one role (e.g. "encoder"), in config order."""
        return [n for n in self.networks.values() if n.role == role]

    @property
    def limits(self) -> Limits:
        """The addon's ``[limits]`` (frames per symbol and per utterance, text length), with defaults."""
        return read_limits(self.config, str(self.config_file) if self.config_file else None)

    @property
    def frontend(self) -> Frontend:
        """The text front end named in the config, built on first use."""
        if self._frontend is None:
            from ._frontends import build_frontend

            self._frontend = build_frontend(self)
        return self._frontend


def load_addon(path_or_name: str | Path, overrides: Mapping[str, Any] | None = None, *,
               registry: Registry | None = None) -> Addon:
    """Load an addon directory (or one registered by a plugin under this name) and its networks."""
    registry = registry or get_registry()
    directory = _locate(path_or_name, registry)
    config_file, raw = _read_config(directory)
    source = str(config_file)
    for name, value in (overrides or {}).items():
        if _depth(value) > MAX_NESTING:
            raise ConfigError(str(name), f"nested deeper than {MAX_NESTING} levels", source="--set")
    config = apply_overrides(raw, overrides)
    try:
        _validate(config, source)
        read_limits(config, source)
    except ConfigError as exc:
        raise _blame_override(exc, overrides) from None
    from ._network import load_network

    networks = {name: load_network(name, spec, directory, source)
                for name, spec in config.get("networks", {}).items()}
    return Addon(config["name"], directory, config, networks, registry, config_file=config_file)


def _blame_override(error: ConfigError, overrides: Mapping[str, Any] | None) -> ConfigError:
    """``error`` with ``--set`` as its source when an override set the value it is about."""
    path = error.path
    for key in overrides or {}:
        if path == key or path.startswith(f"{key}.") or key.startswith(f"{path}."):
            return ConfigError(path, error.message, error.hint, source="--set")
    return error


def _depth(value: Any, limit: int = MAX_NESTING + 1) -> int:
    """How deeply lists and tables nest in ``value`` (counted without recursion, up to ``limit``)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level < limit and isinstance(item, (dict, list)):
            stack.extend((v, level + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest


def _read_config(directory: Path) -> tuple[Path, Any]:
    """The addon's config file and its parsed content (TOML or JSON), or an AddonError saying why not.

    The config is confined to the addon folder like every file it names: a symlink leading out of
    the folder (or in a loop) is refused, so an addon cannot make ttsint read another config.
    """
    config_file = next((directory / n for n in CONFIG_NAMES if (directory / n).is_symlink()
                        or (directory / n).exists()), None)
    if config_file is None:
        raise AddonError(f"{directory} has no {' or '.join(CONFIG_NAMES)}")
    try:
        config_file = confined_file(directory, config_file.name, config_file.name)
    except ConfigError as exc:
        raise AddonError(f"{directory}: {exc.message}; the addon's config must be a file inside its "
                         f"folder (replace the symlink with the file itself)") from None
    try:
        text = config_file.read_text(encoding="utf-8")
        config = tomllib.loads(text) if config_file.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise AddonError(f"{config_file} is not valid {config_file.suffix[1:].upper()}: {exc}") from exc
    except RecursionError:
        raise AddonError(f"{config_file}: tables or lists nested far too deep") from None
    if _depth(config) > MAX_NESTING:
        raise AddonError(f"{config_file}: tables or lists nested deeper than {MAX_NESTING} levels")
    return config_file, config


def default_addon(registry: Registry | None = None) -> str:
    """The registered addon with the highest ``priority`` in its config: the best voice installed.

    Each config's priority is remembered in the cache by its file's size and modification time, so a
    later process parses only the configs that changed (44 TOML files took ~15 ms of a cold synth).
    """
    from ._cache import default_cache_dir, read_record, write_record

    registry = registry or get_registry()
    record = default_cache_dir() / "priorities.json"
    known = read_record(record)
    known = known if isinstance(known, dict) else {}
    seen: dict[str, Any] = {}
    best: tuple[float, str] | None = None
    for name, regs in sorted(registry.addons.items()):
        for reg in regs:
            qualified = name if len(regs) == 1 else reg.qualified_name
            try:
                priority = _priority(Path(reg.load()), known, seen)
            except Exception:
                continue  # a broken addon cannot be the default; loading it by name reports why
            if best is None or priority > best[0]:
                best = (priority, qualified)
    if seen != known:
        write_record(record, seen)
    if best is None:
        raise AddonError("no addon is installed; pass --addon PATH, or pip install ttsint-encoders "
                         "for the demo voice")
    return best[1]


def _priority(directory: Path, known: dict[str, Any], seen: dict[str, Any]) -> float:
    """An addon's ``priority``: from ``known`` while its config file is unchanged, else read from it."""
    config = next((directory / n for n in CONFIG_NAMES if (directory / n).exists()), directory / "-")
    info = config.stat()
    stamp = [info.st_mtime_ns, info.st_size]
    found = known.get(str(config))
    if isinstance(found, list) and len(found) == 3 and found[:2] == stamp and isinstance(found[2], float):
        priority = found[2]
    else:
        priority = float(_read_config(directory)[1].get("priority", 0))
    seen[str(config)] = [*stamp, priority]
    return priority


def voice_summary(directory: Path) -> dict[str, Any]:
    """What ``ttsint voices`` shows of an addon, from its config alone (no network is loaded): language,
    sample rate, architecture (the block types its stack runs, in stream order) and licence."""
    config_file, config = _read_config(directory)
    _validate_meta(config, str(config_file))
    language = config.get("language") or config["frontend"].get("language")
    return {
        "language": ", ".join(language) if isinstance(language, list) else language,
        "sample_rate": config["sample_rate"],
        "architecture": " → ".join(stack_types(config["stack"])),
        "license": config.get("license"),
        "description": config.get("description"),
        "version": config["version"],
    }


def stack_types(spec: Any) -> list[str]:
    """The ``type`` of every block spec in ``spec`` that nests no other, in stream order."""
    found: list[str] = []

    def is_spec(v: Any) -> bool:
        return isinstance(v, dict) and isinstance(v.get("type"), str)

    def visit(item: Any) -> None:
        if isinstance(item, list):
            for x in item:
                visit(x)
            return
        if not is_spec(item):
            return
        nested = [v for k, v in item.items() if k != "type" and
                  (is_spec(v) or (isinstance(v, list) and v and all(is_spec(x) for x in v)))]
        if nested:
            for v in nested:
                visit(v)
        else:
            found.append(item["type"])

    visit(spec)
    return found


def _locate(path_or_name: str | Path, registry: Registry) -> Path:
    if not str(path_or_name).strip():  # Path("") is the current folder: never load that by accident
        raise ConfigError("addon", "the addon name is empty", "name an addon (`ttsint voices` lists them) "
                          "or an addon folder")
    path = Path(path_or_name).expanduser()
    if path.is_file() and path.name in CONFIG_NAMES:
        return path.parent.resolve()
    if path.is_dir():
        return path.resolve()
    name = str(path_or_name)
    if name in registry.addons or ":" in name:
        try:
            reg = registry.find(registry.addons, name, what="addon", path="addon")
        except ConfigError as exc:
            raise AddonError(str(exc)) from exc
        return Path(reg.load()).resolve()
    resolved = registry.resolve_addon(name)  # a name with parameters, e.g. a voice mix
    if resolved is not None:
        return resolved
    known = sorted(registry.addons)
    close = difflib.get_close_matches(name, known, n=2)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise AddonError(f"no addon directory or registered addon named {name!r}{hint} "
                     f"(registered: {', '.join(known) or 'none'}; `ttsint addons` lists them)")


def _validate(config: Any, source: str) -> None:
    _validate_meta(config, source)
    _validate_networks(config, source)


def _validate_meta(config: Any, source: str) -> None:
    """The metadata, front end and stack: what ``ttsint voices`` reads (nothing here imports torch)."""
    if not isinstance(config, dict):
        raise ConfigError("", f"expected a table at the top level, got {type(config).__name__}",
                          source=source)
    from ._schema import AddonMeta, InvalidValue, validate

    try:
        validate(config, AddonMeta, error=InvalidValue)
    except InvalidValue as exc:
        if exc.kind == "missing" and exc.key in _REQUIRED_META:
            exc.hint = f"an addon declares {', '.join(_REQUIRED_META)}"
        elif exc.kind == "missing" and exc.path in ("frontend", "frontend.type"):
            exc.path = "frontend.type"
            exc.message = "missing; name the text front end, e.g. type = \"characters\""
        elif exc.kind == "missing" and exc.key == "stack":
            exc.message = "missing; the stack says which blocks run this addon"
        raise exc.config_error(source=source) from None
    low, high = SAMPLE_RATES
    if not low <= config["sample_rate"] <= high:
        raise ConfigError("sample_rate", f"{config['sample_rate']:,} Hz is outside the range {low:,} to "
                          f"{high:,} Hz", "set the rate the addon's networks were trained at, "
                          "e.g. sample_rate = 22050", source=source)
    if config["hop_length"] > config["sample_rate"]:
        raise ConfigError("hop_length", f"{config['hop_length']:,} samples is longer than a second at "
                          f"{config['sample_rate']:,} Hz", "set the hop the networks were trained with, "
                          "e.g. hop_length = 256", source=source)


def _validate_networks(config: dict[str, Any], source: str) -> None:
    from ._schema import NetworkSpec, validate

    for name, spec in config.get("networks", {}).items():
        at = f"networks.{name}"
        if not isinstance(spec, dict):  # said here: msgspec names a table "object"
            raise ConfigError(at, f"expected a table, got {type(spec).__name__}", source=source)
        validate(spec, NetworkSpec, at, source=source)
        if spec.get("runtime") is not None:
            from ._runtimes import parse_runtime  # imports torch: only for a config that names a runtime

            try:
                parse_runtime(spec["runtime"], f"{at}.runtime")
            except ConfigError as exc:
                raise ConfigError(exc.path, exc.message, exc.hint, source=source) from None
