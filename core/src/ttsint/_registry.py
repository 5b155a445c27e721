"""Finds block types, addons, front ends and runtimes by name, through pluggy hooks and entry points."""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import os
import re
import stat
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from ._cache import default_cache_dir, read_record, write_record
from ._errors import ConfigError, PluginError, TTSIntError

__all__ = [
    "ENTRY_POINT_GROUP",
    "Registration",
    "PluginInfo",
    "Registry",
    "env_flag",
    "get_registry",
    "reset_registry",
]

ENTRY_POINT_GROUP = "ttsint"

_TABLES = {"ttsint_register_blocks": "blocks", "ttsint_register_addons": "addons",
           "ttsint_register_frontends": "frontends", "ttsint_register_runtimes": "runtimes",
           "ttsint_register_plotters": "plotters"}
"""The registration hooks and the Registry table each one fills."""


@dataclass
class Registration:
    """One name registered by one plugin; a lazy "module:attr" target is imported on first use."""

    name: str
    target: Any
    plugin: str
    distribution: str | None
    version: str | None
    _loaded: Any = field(default=None, repr=False)

    @property
    def qualified_name(self) -> str:
        return f"{self.distribution or self.plugin}:{self.name}"

    def load(self) -> Any:
        """Return the registered object, importing a lazy target now."""
        if self._loaded is None:
            target = self.target
            if isinstance(target, str):
                module_name, _, attr = target.partition(":")
                try:
                    obj: Any = importlib.import_module(module_name)
                    for part in attr.split(".") if attr else []:
                        obj = getattr(obj, part)
                except Exception as exc:
                    raise PluginError(
                        f"{self.name!r} from plugin {self.plugin!r} ({self.distribution}) points at "
                        f"{target!r}, which cannot be imported: {type(exc).__name__}: {exc}"
                    ) from exc
                target = obj
            self._loaded = target
        return self._loaded


@dataclass
class PluginInfo:
    """A plugin found through an entry point (or built in), with its failure if it did not load."""

    name: str
    distribution: str | None
    version: str | None
    error: str | None = None
    traceback: str | None = None
    from_entry_point: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def key(self) -> str:
        """How pluggy knows the plugin: ``DIST:NAME`` for an entry point, so that two distributions may
        use one entry-point name without one silently replacing the other."""
        keyed = self.from_entry_point and self.distribution
        return f"{self.distribution}:{self.name}" if keyed else self.name


class Registry:
    """Everything plugins registered: block types, addons, front ends, runtimes and mel plotters, by name."""

    def __init__(self, *, load_entry_points: bool = True,
                 plugins: Mapping[str, object] | None = None) -> None:
        """``plugins`` adds hook-implementing objects by name, as if found through entry points."""
        self.plugins: list[PluginInfo] = []
        self.blocks: dict[str, list[Registration]] = {}
        self.addons: dict[str, list[Registration]] = {}
        self.frontends: dict[str, list[Registration]] = {}
        self.runtimes: dict[str, list[Registration]] = {}
        self.plotters: dict[str, list[Registration]] = {}
        self.commands: dict[str, list[Registration]] = {}
        """CLI commands added by plugins, filled when ``add_commands`` builds the click group."""
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._installed = _installed()
        self._add_core()
        for name, plugin in (plugins or {}).items():
            self._pm.register(plugin, name=name)
            self.plugins.append(PluginInfo(name, None, None))
        if load_entry_points:
            self._add_entry_points()
        self._check_hooks()
        self._collect()

    # -- loading -------------------------------------------------------------------------
    def _add_core(self) -> None:
        from . import _core_plugin

        version = self._installed.version
        self._pm.register(_core_plugin, name="ttsint")
        self.plugins.append(PluginInfo("ttsint", "ttsint", version))

    def _add_entry_points(self) -> None:
        """Register every ``ttsint`` entry point, keyed by distribution and name; a failure is recorded.

        ``TTSINT_DISABLE_PLUGINS`` names entry points to skip, as ``NAME`` (any distribution's) or
        ``DIST:NAME``. A plugin that fails is never fatal here, so ``ttsint plugins`` can list it
        even in strict mode; ``check_strict`` makes it an error where a stack is built.
        """
        disabled = {p.strip() for p in os.environ.get("TTSINT_DISABLE_PLUGINS", "").split(",") if p.strip()}
        for ep in sorted(self._installed.entry_points, key=lambda e: e.name):
            info = PluginInfo(ep.name, ep.distribution, ep.version, from_entry_point=True)
            if ep.name == "ttsint" or disabled & {ep.name, info.key} or self._pm.has_plugin(info.key):
                continue  # core itself, a disabled one, or one distribution found twice on the path
            try:
                self._pm.register(ep.load(), name=info.key)
            except Exception as exc:
                info.error = f"{type(exc).__name__}: {exc}"
                info.traceback = traceback.format_exc()
            self.plugins.append(info)

    def _check_hooks(self) -> None:
        """Report a plugin implementing a hook that ttsint does not define (a misspelling) as failed.

        pluggy's ``check_pending`` finds them; the plugin is unregistered, like one that failed to load.
        """
        while True:
            try:
                self._pm.check_pending()
                return
            except pluggy.PluginValidationError as exc:
                name = self._pm.get_name(exc.plugin) or str(exc.plugin)
                unknown = sorted(c.name for c in self._pm.get_hookcallers(exc.plugin) or [] if c.spec is None)
                hints = []
                for hook in unknown:
                    close = difflib.get_close_matches(hook, _HOOK_NAMES, n=1)
                    hints.append(f"{hook!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
                error = (f"implements {', '.join(hints)}, which ttsint does not define; "
                         f"its hooks are {', '.join(_HOOK_NAMES)}")
                self._pm.unregister(exc.plugin)
                self._fail(name, error)

    def _fail(self, name: str, error: str, tb: str | None = None) -> None:
        info = self._info(name)
        info.error = info.error or error
        info.traceback = info.traceback or tb

    def _info(self, key: str) -> PluginInfo:
        return next(p for p in self.plugins if p.key == key)

    def _call_each(self, hook_name: str, make_kwargs: Callable[[PluginInfo], dict[str, Any]],
                   after: Callable[[PluginInfo], None] | None = None) -> None:
        """Call one hook through pluggy, one plugin at a time, so each registration knows its plugin.

        pluggy hands every implementation only the arguments it declares, so a hook spec can gain
        arguments without breaking older plugins. A plugin that raises is reported, not fatal.
        """
        implementers = {id(i.plugin) for i in getattr(self._pm.hook, hook_name).get_hookimpls()}
        for info in self.plugins:  # in the order they were found, so ties are reported in that order
            plugin = self._pm.get_plugin(info.key)
            if plugin is None or id(plugin) not in implementers or info is not self._info(info.key):
                continue
            others = [p for p in self._pm.get_plugins() if p is not plugin]
            try:
                self._pm.subset_hook_caller(hook_name, others)(**make_kwargs(info))
            except Exception as exc:
                self._fail(info.key, f"{hook_name} raised {type(exc).__name__}: {exc}",
                           traceback.format_exc())
            if after is not None:
                after(info)

    def _collect(self) -> None:
        for hook_name, table_name in _TABLES.items():
            table: dict[str, list[Registration]] = getattr(self, table_name)

            def kwargs(info: PluginInfo, _t: dict[str, list[Registration]] = table) -> dict[str, Any]:
                def register(name: str, target: Any) -> None:
                    if _t is self.addons:
                        target = Path(target)  # addons are directories, never imported
                    _t.setdefault(name, []).append(
                        Registration(name, target, info.name, info.distribution, info.version))

                return {"register": register}

            self._call_each(hook_name, kwargs)

    # -- lookup --------------------------------------------------------------------------
    @property
    def failures(self) -> list[PluginInfo]:
        return [p for p in self.plugins if not p.ok]

    def failure_lines(self) -> list[str]:
        """One line per plugin that failed to load, naming it and its distribution."""
        return [f"plugin {p.name!r} ({p.distribution}) failed to load: {p.error}" for p in self.failures]

    def check_strict(self) -> None:
        """With ``TTSINT_STRICT_PLUGINS`` on, a PluginError listing each failed plugin, one line each.

        The builder and every CLI command but ``plugins`` and ``--help`` call it, so that a user can
        still see what is broken.
        """
        if env_flag("TTSINT_STRICT_PLUGINS") and self.failures:
            raise PluginError("\n".join(self.failure_lines()))

    def find(self, table: dict[str, list[Registration]], name: str, *, what: str, path: str) -> Registration:
        """Return the single registration for ``name`` (or "dist:name"), else a ConfigError at ``path``."""
        dist, sep, bare = name.rpartition(":")
        candidates = table.get(bare if sep else name, [])
        if sep:
            wanted = _normalize(dist)
            candidates = [r for r in candidates if wanted in (_normalize(r.distribution), r.plugin)]
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            owners = ", ".join(f"{r.distribution or r.plugin} (plugin {r.plugin!r})" for r in candidates)
            choices = " or ".join(repr(r.qualified_name) for r in candidates)
            raise ConfigError(path, f"{what} {name!r} is registered by more than one distribution: {owners}",
                              f"write {choices} to pick one")
        raise ConfigError(path, f"unknown {what} {name!r}", self._unknown_hint(table, bare or name))

    def _unknown_hint(self, table: dict[str, list[Registration]], name: str) -> str:
        hints = []
        close = _close_matches(name, table)
        if close:
            hints.append("did you mean " + " or ".join(repr(c) for c in close) + "?")
        dist = self.first_party_hint(table, name)
        if dist:
            hints.append(dist)
        known = sorted(table)
        if known and not close:
            hints.append("known: " + ", ".join(known))
        hints.extend(self.failure_lines())
        return "\n  ".join(hints)

    def first_party_hint(self, table: dict[str, list[Registration]], name: str) -> str | None:
        """"NAME is provided by DIST: pip install DIST" when a first-party plugin ships ``name``."""
        from ._catalog import TABLES, install_hint

        table_name = next((t for t in TABLES if getattr(self, t, None) is table), "")
        return install_hint(table_name, name) if table_name else None

    def add_commands(self, cli: Any) -> None:
        """Let each plugin add subcommands to the ``cli`` click group; one that fails here is reported.

        The commands each plugin adds are recorded in ``commands`` (those of the last group built), like
        the names in the other tables.
        A command whose name is taken (by a built-in or an earlier plugin) is put back as it was, and
        the plugin is reported as failed, naming both distributions: never a silent replacement.
        """
        self.commands.clear()
        owners = {name: f"the built-in command of ttsint {self._installed.version or ''}".rstrip()
                  for name in cli.commands}
        before: dict[str, Any] = {}

        def snapshot(info: PluginInfo) -> dict[str, Any]:
            before.clear()
            before.update(cli.commands)
            return {"cli": cli}

        def record(info: PluginInfo) -> None:
            taken = sorted(n for n, command in before.items() if cli.commands.get(n) is not command)
            for name in taken:
                cli.commands[name] = before[name]
            if taken:
                clashes = "; ".join(f"command {name!r} collides with {owners[name]}" for name in taken)
                self._fail(info.key, f"{clashes} (not replaced)")
            for name in sorted(set(cli.commands) - set(before)):
                owners[name] = f"plugin {info.name!r} ({info.distribution})"
                self.commands.setdefault(name, []).append(
                    Registration(name, cli.commands[name], info.name, info.distribution, info.version))

        self._call_each("ttsint_register_commands", snapshot, after=record)

    def resolve_addon(self, name: str) -> Path | None:
        """The folder a plugin's ``ttsint_resolve_addon`` makes of an unregistered ``name`` (a voice mix).

        None when no plugin recognises the name; a plugin's TTSIntError (an unknown voice in the mix)
        reaches the user as it is, any other exception is a PluginError naming the name.
        """
        try:
            found = self._pm.hook.ttsint_resolve_addon(name=name)
        except TTSIntError:
            raise
        except Exception as exc:
            raise PluginError(f"a plugin's ttsint_resolve_addon failed for the addon name {name!r}: "
                              f"{type(exc).__name__}: {exc}") from exc
        return None if found is None else Path(found).resolve()

    def iter_blocks(self) -> Iterable[Registration]:
        for name in sorted(self.blocks):
            yield from self.blocks[name]

    def iter_runtimes(self) -> Iterable[Registration]:
        for name in sorted(self.runtimes):
            yield from self.runtimes[name]


_HOOK_NAMES = sorted(n for n in dir(hookspecs) if n.startswith("ttsint_"))


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def env_flag(name: str) -> bool:
    """A boolean environment variable: 1/true/yes/on, or 0/false/no/off (any case; unset is off).

    Any other value is a ConfigError naming the variable, rather than a guess either way.
    """
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise ConfigError(name, f"expected a boolean, got {os.environ[name]!r}",
                      f"use {name}=1 (or true, yes, on) to turn it on, 0 (or false, no, off) to turn it off")


def _normalize(dist: str | None) -> str:
    """Distribution names compare like pip compares them: case-, '-', '_' and '.'-insensitive."""
    return re.sub(r"[-_.]+", "-", dist or "").lower()


def _close_matches(name: str, options: Iterable[str]) -> list[str]:
    lowered = {o.lower(): o for o in options}
    found = difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.6)
    return [lowered[f] for f in found]


@dataclass(frozen=True)
class _EntryPoint:
    """A ``ttsint`` entry point: its name, ``module:attr`` value, and the distribution that declares it."""

    name: str
    value: str
    distribution: str | None
    version: str | None

    def load(self) -> Any:
        """Import the module and return the attribute, as importlib.metadata's EntryPoint.load does."""
        match = _ENTRY_VALUE.fullmatch(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r} = {self.value!r} is not 'module:attribute'")
        found: Any = importlib.import_module(match["module"])
        for part in match["attr"].split(".") if match["attr"] else []:
            found = getattr(found, part)
        return found


_ENTRY_VALUE = re.compile(r"\s*(?P<module>[\w.]+)\s*(?::\s*(?P<attr>[\w.]+)\s*)?(?:\[[^\]]*\]\s*)?")


@dataclass(frozen=True)
class _Installed:
    entry_points: tuple[_EntryPoint, ...]
    version: str | None
    """ttsint's own version."""


_found: tuple[str, _Installed] | None = None


def _installed() -> _Installed:
    """The ``ttsint`` entry points on ``sys.path`` and ttsint's version, once per process.

    importlib.metadata reads every installed distribution to answer (~25 ms of a cold ``ttsint synth``
    with its import), so the answer is kept in the cache and read back by a later process while
    ``sys.path`` holds the same distributions: its folders and every ``entry_points.txt`` in them have the
    modification times they had when it was recorded (installing, removing or upgrading one changes them).
    """
    global _found
    fingerprint = _path_fingerprint()
    if _found is not None and _found[0] == fingerprint:
        return _found[1]
    key = hashlib.sha256(json.dumps([sys.executable, sys.path]).encode()).hexdigest()[:20]
    path = default_cache_dir() / "plugins" / f"{key}.json"
    record = read_record(path)
    try:
        if not isinstance(record, dict) or record.get("fingerprint") != fingerprint:
            raise ValueError("no record for this sys.path as it is")
        found = _Installed(tuple(_EntryPoint(*ep) for ep in record["entry_points"]), record["version"])
    except (KeyError, TypeError, ValueError):
        found = _from_metadata()
        write_record(path, {"fingerprint": fingerprint, "version": found.version,
                            "entry_points": [[ep.name, ep.value, ep.distribution, ep.version]
                                             for ep in found.entry_points]})
    _found = (fingerprint, found)
    return found


def _from_metadata() -> _Installed:
    from importlib import metadata

    found = tuple(_EntryPoint(ep.name, ep.value, ep.dist.name if ep.dist is not None else None,
                              ep.dist.version if ep.dist is not None else None)
                  for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
    try:
        version: str | None = metadata.version("ttsint")
    except metadata.PackageNotFoundError:
        version = None
    return _Installed(found, version)


def _path_fingerprint() -> str:
    """A digest of what importlib.metadata would read: each ``sys.path`` entry's modification time, and
    the modification time of each distribution's ``entry_points.txt`` in it."""
    parts: list[Any] = []
    for entry in sys.path:
        try:
            info = os.stat(entry or ".")
            parts.append([entry, info.st_mtime_ns])
            if not stat.S_ISDIR(info.st_mode):
                continue
            with os.scandir(entry or ".") as listing:
                names = sorted(e.name for e in listing if e.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            parts.append([entry, None])
            continue
        for name in names:
            try:
                listed = os.stat(os.path.join(entry or ".", name, "entry_points.txt"))
                parts.append([name, listed.st_mtime_ns])
            except OSError:
                parts.append([name, None])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


_registry: Registry | None = None
_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, created on first use (the only global state in ttsint)."""
    global _registry
    with _lock:
        if _registry is None:
            _registry = Registry()
        return _registry


def reset_registry(factory: Callable[[], Registry] | None = None) -> Registry | None:
    """Forget the loaded plugins (tests use this after installing or disabling one)."""
    global _registry
    with _lock:
        _registry = factory() if factory else None
        return _registry
