"""Turns a config table into an object: find its registered class, check its parameters, call ``from_config``.

Blocks and front ends are both built here, so both get the same parameter check and the same errors.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from ._errors import ConfigError, ParameterError, PluginError, TTSIntError
from ._params import check_values
from ._registry import Registration, Registry

__all__ = ["load_class", "constructor_parameters", "check_parameters", "instantiate"]


def load_class(registry: Registry, table: dict[str, list[Registration]], name: str, *, what: str,
               path: str, base: type, base_name: str) -> tuple[type, Registration]:
    """The class registered as ``name`` in ``table``, checked to subclass ``base``; else a ConfigError."""
    reg = registry.find(table, name, what=what, path=path)
    try:
        cls = reg.load()
    except PluginError as exc:
        raise ConfigError(path, str(exc), "reinstall or fix that plugin") from exc
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(path, f"{name!r} from {reg.distribution} is not a {base_name} ({cls!r})")
    return cls, reg


def constructor_parameters(cls: type) -> tuple[list[str], list[str], bool]:
    """(accepted, required, accepts_any) parameter names of a class's constructor."""
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return [], [], True
    accepted, required, any_kw = [], [], False
    for name, p in list(sig.parameters.items())[1:]:
        if p.kind is p.VAR_KEYWORD:
            any_kw = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            accepted.append(name)
            if p.default is p.empty:
                required.append(name)
    return accepted, required, any_kw


def check_parameters(cls: type, params: Mapping[str, Any], path: str, name: str) -> None:
    """Raise a ConfigError for a key the constructor does not accept, or a required one that is missing.

    Parameters named in the class's ``context_params`` are filled by ``from_config``, so a config need
    not give them.
    """
    accepted, required, any_kw = constructor_parameters(cls)
    for key in params:
        if not any_kw and key not in accepted:
            close = difflib.get_close_matches(str(key), accepted, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{path}.{key}", f"{name} has no parameter {key!r}",
                              hint + f"accepted: {', '.join(accepted) or 'none'}")
    from_context = getattr(cls, "context_params", ())
    missing = [r for r in required if r not in params and r not in from_context]
    if missing:
        raise ConfigError(f"{path}.{missing[0]}", f"{name} requires {missing[0]!r}",
                          f"required: {', '.join(required)}")
    check_values(cls, params, path)


def instantiate(cls: Any, params: dict[str, Any], source: Any, *, path: str, name: str,
                origin: Registration | None = None) -> Any:
    """``cls.from_config(params, source)`` after the parameter check.

    Only the errors a class declares as the user's pass as such: a ParameterError becomes a ConfigError
    at ``path.KEY``, and ttsint's own errors (ConfigError, ...) go through. Any other exception is a bug
    in the class, not in the config: a PluginError naming ``origin``'s plugin and ``path``, chained to it.
    """
    check_parameters(cls, params, path, name)
    try:
        return cls.from_config(params, source)
    except ParameterError as exc:
        raise ConfigError(f"{path}.{exc.key}", exc.message, exc.hint) from exc
    except TTSIntError:
        raise
    except Exception as exc:
        raise _bug(name, origin, path, exc) from exc


def _bug(name: str, origin: Registration | None, path: str, exc: Exception) -> PluginError:
    """The one-paragraph report of an exception a class raised while being built from ``path``."""
    where = f"plugin {origin.plugin!r}" if origin else "its plugin"
    if origin and origin.distribution:
        version = f" {origin.version}" if origin.version else ""
        where += f" ({origin.distribution}{version})"
    owner = origin.distribution or origin.plugin if origin else "the plugin's authors"
    return PluginError(f"{path}: {name} from {where} raised {type(exc).__name__} while being built: {exc}\n"
                       f"  this is a bug in {name}, not in the config (a bad value is reported with "
                       f"ttsint.ParameterError); report it to {owner}, with the traceback --debug shows")
